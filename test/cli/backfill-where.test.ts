import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { runPostbox } from '../support/cli.js'
import { orderEvent } from '../support/events.js'
import { createMigratedDatabase, queryRows, uniqueName } from '../support/stack.js'

const CONFIG = 'test/cli/fixtures/orders.config.ts'

describe('postbox backfill --where runs one statement, dry runs read only, and the page key must advance', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  const topic = uniqueName('cli.backfill.where')
  const OrderChanged = orderEvent(topic)

  before(async () => {
    db = await createMigratedDatabase('pbclibfwhere')
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      await client.query(
        `create table public.orders (
           id integer primary key, customer text not null, total_cents integer not null,
           status text not null, version integer not null)`,
      )
      await client.query(
        `insert into public.orders select g, 'customer-' || g, g, 'new', 1 from generate_series(1, 5) as g`,
      )
      // Rows that no backfill may touch, and a function that would delete them.
      await client.query('create table public.canary (id integer primary key)')
      await client.query('insert into public.canary values (1), (2), (3)')
      await client.query(
        `create function public.delete_canary() returns boolean language sql volatile
         as 'delete from public.canary; select true'`,
      )
    } finally {
      await client.end()
    }
  })
  after(async () => {
    await db.drop()
  })

  const backfill = (...args: string[]) =>
    runPostbox(['--config', CONFIG, 'backfill', '--event-type', OrderChanged.type, ...args], {
      databaseUrl: db.url,
      env: { PBTEST_TOPIC: topic },
    })
  const count = async (table: string) =>
    (await queryRows<{ n: number }>(db.url, `select count(*)::int as n from ${table}`))[0]?.n

  test('a condition that chains a second statement fails cleanly and deletes nothing, with or without --dry-run', async () => {
    for (const mode of ['--dry-run', '--yes']) {
      const result = await backfill(mode, '--where', 'true) ; delete from public.canary; select (1')
      assert.equal(result.code, 1, `${mode}: ${result.stderr}`)
      assert.match(result.stderr, /^postbox: .*cannot insert multiple commands into a prepared statement/m)
      assert.equal(await count('public.canary'), 3, mode)
      assert.equal(await count('postbox.outbox'), 0, mode)
    }
  })

  test('a dry run is read only: a condition that writes fails and changes nothing', async () => {
    const result = await backfill('--dry-run', '--where', 'public.delete_canary()')
    assert.equal(result.code, 1, result.stderr)
    assert.match(result.stderr, /cannot execute DELETE in a read-only transaction/)
    assert.equal(await count('public.canary'), 3)
  })

  test('a condition that escapes the key order stops with an error instead of looping', async () => {
    const result = await backfill('--where', 'id > 0) or (true', '--batch', '2', '--yes')
    assert.equal(result.code, 1, result.stderr)
    assert.match(
      result.stderr,
      /backfill of \S+ stopped after 2 row\(s\): fix the cause, then rerun with --after 2 \(cause: the page key id did not advance past 2/,
    )
    assert.equal(await count('postbox.outbox'), 2, 'only the first batch was queued')
  })
})
