import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'
import { runPostbox } from '../support/cli.js'
import { stack } from '../support/stack.js'

test('postbox --version and -V print the package version', async () => {
  const { version } = JSON.parse(await readFile('package.json', 'utf8')) as { version: string }
  for (const flag of ['--version', '-V']) {
    const result = await runPostbox([flag], { databaseUrl: stack.databaseUrl })
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout, `${version}\n`)
  }
})
