// Runs every test file under test/ with Node's test runner (TypeScript through tsx).
// Files run one at a time: the chaos suite stops and restarts the shared broker and registry.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

function testFiles(dir) {
  return readdirSync(dir)
    .flatMap((name) => {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) return name === 'support' ? [] : testFiles(path)
      return name.endsWith('.test.ts') ? [path] : []
    })
    .sort()
}

const only = process.argv.slice(2)
const files = only.length > 0 ? only : testFiles('test')
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
)
process.exit(result.status ?? 1)
