import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { runPostbox } from '../support/cli.js'

describe('subcommand help', () => {
  test('status --help shows the global options and the environment variables', async () => {
    const run = await runPostbox(['status', '--help'], { databaseUrl: '' })
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /^Usage: postbox status \[options\]/)
    assert.match(run.stdout, /\nGlobal Options:\n[\s\S]*-c, --config <file>[\s\S]*-d, --database-url <url>/)
    const environment = run.stdout.slice(run.stdout.indexOf('\nEnvironment:\n'))
    for (const name of [
      'DATABASE_URL',
      'PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE',
      'KAFKA_BROKERS',
      'SCHEMA_REGISTRY_URL',
      'POSTBOX_SCHEMA',
      'POSTBOX_CONFIG',
      'LOG_LEVEL',
    ]) {
      assert.ok(environment.includes(`\n  ${name}`), `${name} in:\n${environment}`)
    }
  })

  test('a nested subcommand (parked list) shows them too', async () => {
    const run = await runPostbox(['parked', 'list', '--help'], { databaseUrl: '' })
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /Global Options:[\s\S]*--database-url[\s\S]*Environment:[\s\S]*PGHOST/)
  })
})
