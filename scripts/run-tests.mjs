// Runs every test file under test/ with Node's test runner (TypeScript through tsx).
// Files run one at a time: the chaos suite stops and restarts the shared broker and registry.
// test/unit runs first, in a run of its own (the runner orders the files it is given by name):
// it needs no Postgres, Kafka or registry, so its failures show before the slow tiers start.
// Arguments are test files (default: every one under test/); those starting with -- are passed
// to the runner, e.g. --test-name-pattern=exactly-once.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, relative, resolve, sep } from 'node:path'

function testFiles(dir) {
  return readdirSync(dir)
    .flatMap((name) => {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) return name === 'support' ? [] : testFiles(path)
      return name.endsWith('.test.ts') ? [path] : []
    })
    .sort()
}

function runFiles(files) {
  if (files.length === 0) return 0
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...runnerFlags, ...files],
    { stdio: 'inherit' },
  )
  return result.status ?? 1
}

const args = process.argv.slice(2)
const runnerFlags = args.filter((arg) => arg.startsWith('--'))
const only = args.filter((arg) => !arg.startsWith('--'))
const files = only.length > 0 ? only : testFiles('test')
const isUnit = (path) => relative('.', resolve(path)).startsWith(join('test', 'unit') + sep)
const unitStatus = runFiles(files.filter(isUnit))
const restStatus = runFiles(files.filter((path) => !isUnit(path)))
process.exit(unitStatus !== 0 ? unitStatus : restStatus)
