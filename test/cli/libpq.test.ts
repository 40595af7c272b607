import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { runPostbox } from '../support/cli.js'
import { createMigratedDatabase, queryRows, uniqueName } from '../support/stack.js'

describe('the database as psql users name it: PG* variables and -d/--database-url', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  const topic = uniqueName('cli.libpq')

  before(async () => {
    db = await createMigratedDatabase('pbclilibpq')
    await queryRows(
      db.url,
      `insert into postbox.outbox (event_id, event_type, topic, key, payload) values (gen_random_uuid(), 'e', $1, 'k', '{}')`,
      [topic],
    )
  })
  after(async () => {
    await db.drop()
  })

  /** The libpq variables that name the test database (trust auth: no password). */
  const libpqEnv = () => {
    const url = new URL(db.url)
    return {
      PGHOST: url.hostname,
      PGPORT: url.port || '5432',
      PGUSER: decodeURIComponent(url.username),
      PGDATABASE: url.pathname.slice(1),
    }
  }

  /** The pending count `postbox status --json` reports for this file's topic (a row only its database holds). */
  const pendingOfTopic = (stdout: string) =>
    (JSON.parse(stdout) as { topics: { topic: string; pending: number }[] }).topics.find(
      (t) => t.topic === topic,
    )?.pending

  test('without DATABASE_URL, PGHOST/PGPORT/PGUSER/PGDATABASE name the database', async () => {
    const run = await runPostbox(['status', '--json'], { databaseUrl: '', env: libpqEnv() })
    assert.equal(run.code, 0, run.stderr)
    assert.equal(pendingOfTopic(run.stdout), 1)
  })

  test('DATABASE_URL wins over the PG* variables', async () => {
    const run = await runPostbox(['status', '--json'], {
      databaseUrl: db.url,
      env: { ...libpqEnv(), PGDATABASE: 'pb_no_such_database' },
    })
    assert.equal(run.code, 0, run.stderr)
    assert.equal(pendingOfTopic(run.stdout), 1)
  })

  test('-d/--database-url wins over DATABASE_URL, before or after the subcommand', async () => {
    for (const args of [
      ['-d', db.url, 'status', '--json'],
      ['status', '--database-url', db.url, '--json'],
    ]) {
      const run = await runPostbox(args, { databaseUrl: 'postgres://127.0.0.1:1/nowhere' })
      assert.equal(run.code, 0, run.stderr)
      assert.equal(pendingOfTopic(run.stdout), 1)
    }
  })
})
