import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import type { Relay } from '../../src/relay-api.js'
import { runPostbox } from '../support/cli.js'
import { type OrderRow, orderEvent } from '../support/events.js'
import { outboxFor, readTopic, startRelay } from '../support/relay.js'
import { createMigratedDatabase, queryRows, uniqueName, waitFor } from '../support/stack.js'

const CONFIG = 'test/cli/fixtures/orders.config.ts'
const ROWS = 1000

describe('postbox backfill', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let pool: pg.Pool
  let relay: Relay
  const connectionsClosed: Promise<void>[] = []
  const topic = uniqueName('cli.backfill')
  const OrderChanged = orderEvent(topic)
  const outbox = outboxFor([OrderChanged])

  // The application's table: rows that exist but were never enqueued.
  before(async () => {
    db = await createMigratedDatabase('pbclibackfill')
    pool = new pg.Pool({ connectionString: db.url, max: 12 })
    pool.on('connect', (client) => {
      connectionsClosed.push(new Promise((resolve) => client.once('end', resolve)))
    })
    await pool.query(
      `create table public.orders (
         id integer primary key, customer text not null, total_cents integer not null,
         status text not null, version integer not null)`,
    )
    await pool.query(
      `insert into public.orders
       select g, 'customer-' || g, g * 10, case when g % 2 = 0 then 'paid' else 'new' end, 1
       from generate_series(1, $1::int) as g`,
      [ROWS],
    )
    relay = await startRelay(db.url, [OrderChanged])
  })
  after(async () => {
    await relay.stop()
    // pool.end() resolves before its connections have closed; dropping the database while one is
    // still open terminates it, and its error would surface after the test file ended.
    await pool.end()
    await Promise.all(connectionsClosed)
    await db.drop()
  })

  const backfill = (...args: string[]) =>
    runPostbox(['--config', CONFIG, 'backfill', '--event-type', OrderChanged.type, ...args], {
      databaseUrl: db.url,
      env: { PBTEST_TOPIC: topic },
      timeoutMs: 120_000,
    })

  const outboxCount = async () =>
    (await queryRows<{ n: number }>(db.url, 'select count(*)::int as n from postbox.outbox'))[0]?.n

  /** The application's write path: change the row, then enqueue its new state, in one transaction. */
  const updateOrder = async (id: number) => {
    const client = await pool.connect()
    try {
      await client.query('begin')
      const { rows } = await client.query<OrderRow>(
        `update public.orders set version = version + 1, total_cents = total_cents + 1
         where id = $1 returning *`,
        [id],
      )
      await outbox.enqueue(client, OrderChanged, rows[0] as OrderRow)
      await client.query('commit')
    } catch (error) {
      await client.query('rollback')
      throw error
    } finally {
      client.release()
    }
  }

  test('--dry-run prints the row count and a sample as it would be published, and enqueues nothing', async () => {
    const result = await backfill('--dry-run', '--where', 'id <= 25', '--sample', '2')
    assert.equal(result.code, 0, result.stderr)
    assert.match(
      result.stdout,
      new RegExp(
        `^dry run: 25 row\\(s\\) of public\\.orders would be published as ${OrderChanged.type.replaceAll('.', '\\.')} to ${topic.replaceAll('.', '\\.')}; nothing changed`,
      ),
    )
    assert.match(
      result.stdout,
      /\n1\s+1\s+\{"orderId":"1","customer":"customer-1","totalCents":10,"version":1\}/,
    )
    assert.match(result.stdout, /\n2\s+2\s+\{"orderId":"2"/)
    assert.equal(await outboxCount(), 0)
  })

  test('without --yes it refuses with exit 2 when stdin is not a terminal, and enqueues nothing', async () => {
    const result = await backfill()
    assert.equal(result.code, 2)
    assert.match(result.stderr, /refusing to publish 1000 row\(s\) of public\.orders .* without confirmation/)
    assert.equal(await outboxCount(), 0)
  })

  test('an event type missing from the config file is a usage error with exit 2', async () => {
    const result = await runPostbox(
      ['--config', CONFIG, 'backfill', '--event-type', 'no.such.event', '--yes'],
      {
        databaseUrl: db.url,
        env: { PBTEST_TOPIC: topic },
      },
    )
    assert.equal(result.code, 2)
    assert.match(
      result.stderr,
      /event type "no\.such\.event" is not in the config file's events \(known: order\.changed\./,
    )
  })

  test('publishes every row while the application updates rows concurrently, and the last value per key in Kafka equals the row in Postgres', async () => {
    let stop = false
    let updates = 0
    // Eight writers hammer random rows for as long as the backfill runs.
    const writers = Array.from({ length: 8 }, async () => {
      while (!stop) {
        await updateOrder(1 + Math.floor(Math.random() * ROWS))
        updates++
      }
    })
    const result = await backfill('--batch', '50', '--yes', '--json').finally(() => {
      stop = true
    })
    await Promise.all(writers)
    assert.equal(result.code, 0, result.stderr)
    const report = JSON.parse(result.stdout) as { matched: number; enqueued: number; batches: number }
    assert.equal(report.enqueued, ROWS)
    assert.equal(report.batches, ROWS / 50)
    assert.ok(updates > 50, `only ${updates} concurrent updates ran`)

    await waitFor(
      'the outbox drained',
      async () => {
        const [row] = await queryRows<{ n: number }>(
          db.url,
          "select count(*)::int as n from postbox.outbox where status <> 'sent'",
        )
        return row?.n === 0 ? true : undefined
      },
      60_000,
    )
    const records = await readTopic(topic)
    assert.equal(records.length, ROWS + updates)
    const lastByKey = new Map<string, unknown>()
    for (const record of records) lastByKey.set(String(record.key), { ...(record.value as object) })
    const rows = await queryRows<OrderRow>(db.url, 'select * from public.orders order by id')
    assert.equal(lastByKey.size, ROWS)
    for (const row of rows) {
      assert.deepEqual(lastByKey.get(String(row.id)), {
        orderId: String(row.id),
        customer: row.customer,
        totalCents: row.total_cents,
        version: row.version,
      })
    }
  })

  test('a row the mapping rejects stops the backfill with exit 1, naming the row and the --after that resumes it', async () => {
    await pool.query('alter table public.orders alter column total_cents drop not null')
    await pool.query("insert into public.orders values (5000, 'customer-5000', null, 'new', 1)")
    const before = await outboxCount()
    const result = await backfill('--where', 'id > 990', '--batch', '5', '--yes')
    assert.equal(result.code, 1)
    assert.match(
      result.stderr,
      /^postbox: backfill of \S+ stopped after 10 row\(s\) at id=5000: fix the cause, then rerun with --after 1000 \(cause: .*totalCents.*\) \[POSTBOX_BACKFILL_STOPPED\]/m,
    )
    assert.equal(await outboxCount(), (before ?? 0) + 10, 'the batches before the bad row are queued')
  })
})
