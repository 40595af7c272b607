import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import type { Relay } from '../../src/relay-api.js'
import type { PublishedEvent } from '../../src/testing.js'
import { runPostbox } from '../support/cli.js'
import { orderEvent } from '../support/events.js'
import { outboxFor, readTopic, startRelay } from '../support/relay.js'
import { createMigratedDatabase, queryRows, uniqueName, waitFor } from '../support/stack.js'
import { inTransaction } from '../support/transaction.js'

const CONFIG = 'test/cli/fixtures/orders.config.ts'

describe('postbox replay', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let pool: pg.Pool
  let relay: Relay
  const topic = uniqueName('cli.replay')
  const OrderChanged = orderEvent(topic)
  /** Original event ids per key, in the order they were enqueued. */
  const eventIds = new Map<string, string[]>()

  const versionsOf = (records: PublishedEvent[], key: string) =>
    records.filter((r) => r.key === key).map((r) => (r.value as { version: number }).version)

  const outboxCount = async () =>
    (await queryRows<{ n: number }>(db.url, 'select count(*)::int as n from postbox.outbox'))[0]?.n

  const waitForRecords = (n: number) =>
    waitFor(`${n} records on ${topic}`, async () => {
      const records = await readTopic(topic)
      return records.length >= n ? records : undefined
    })

  // Keys a, b and c, three versions each, interleaved, published before the tests start.
  before(async () => {
    db = await createMigratedDatabase('pbclireplay')
    pool = new pg.Pool({ connectionString: db.url, max: 2 })
    relay = await startRelay(db.url, [OrderChanged])
    const outbox = outboxFor([OrderChanged])
    for (const version of [1, 2, 3]) {
      for (const [id, key] of [
        [1, 'a'],
        [2, 'b'],
        [3, 'c'],
      ] as const) {
        const result = await inTransaction(pool, (client) =>
          outbox.enqueue(client, OrderChanged, {
            id,
            customer: `customer-${key}`,
            total_cents: version * 100,
            status: 'new',
            version,
          }),
        )
        eventIds.set(String(id), [...(eventIds.get(String(id)) ?? []), result.eventId])
      }
    }
    await waitForRecords(9)
  })
  after(async () => {
    await relay.stop()
    await pool.end()
    await db.drop()
  })

  const replay = (...args: string[]) =>
    runPostbox(['--config', CONFIG, 'replay', ...args], { databaseUrl: db.url, env: { PBTEST_TOPIC: topic } })

  test('--dry-run prints how many rows match and a sample, and queues nothing', async () => {
    const text = await replay('--topic', topic, '--dry-run', '--sample', '2')
    assert.equal(text.code, 0, text.stderr)
    assert.match(
      text.stdout,
      /^dry run: 9 row\(s\) would be replayed \(outbox ids up to 9\); nothing changed/,
    )
    assert.match(text.stdout, /id\s+event type\s+topic\s+key\s+status\s+created at\s+value/)
    assert.match(
      text.stdout,
      new RegExp(`\\n1\\s+${OrderChanged.type.replaceAll('.', '\\.')}\\s+\\S+\\s+1\\s+sent`),
    )

    const json = await replay('--key', '2', '--dry-run', '--json')
    assert.equal(json.code, 0, json.stderr)
    const report = JSON.parse(json.stdout) as { dryRun: boolean; matched: number; sample: { id: string }[] }
    assert.equal(report.dryRun, true)
    assert.equal(report.matched, 3)
    assert.deepEqual(
      report.sample.map((r) => r.id),
      ['2', '5', '8'],
    )
    assert.equal(await outboxCount(), 9)
  })

  test("re-publishes a key's events in their original order, with new event ids and the original id in replay-of", async () => {
    const result = await replay('--topic', topic, '--key', '1', '--yes')
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /^queued 3 row\(s\) for publishing again/)

    const records = await waitForRecords(12)
    assert.deepEqual(versionsOf(records, '1'), [1, 2, 3, 1, 2, 3])
    const copies = records.filter((r) => r.key === '1').slice(3)
    assert.deepEqual(
      copies.map((r) => r.headers['replay-of']),
      eventIds.get('1'),
    )
    for (const copy of copies) assert.ok(!eventIds.get('1')?.includes(copy.headers['event-id'] ?? ''))
    assert.deepEqual(versionsOf(records, '2'), [1, 2, 3], 'other keys are not replayed')
  })

  test("a replay that reaches a key's still-pending row ends with that newest row, so the key's last value stays current", async () => {
    await relay.stop()
    const outbox = outboxFor([OrderChanged])
    const pending = await inTransaction(pool, (client) =>
      outbox.enqueue(client, OrderChanged, {
        id: 2,
        customer: 'customer-b',
        total_cents: 400,
        status: 'new',
        version: 4,
      }),
    )
    const result = await replay('--key', '2', '--from-id', '5', '--yes', '--json')
    assert.equal(result.code, 0, result.stderr)
    assert.deepEqual(JSON.parse(result.stdout), {
      version: 1,
      dryRun: false,
      matched: 3,
      queued: 3,
      upToId: pending.id,
      stopped: false,
      sample: [],
    })
    relay = await startRelay(db.url, [OrderChanged])

    const records = await waitFor('key 2 replayed', async () => {
      const all = await readTopic(topic)
      return versionsOf(all, '2').length >= 7 ? all : undefined
    })
    assert.deepEqual(versionsOf(records, '2'), [1, 2, 3, 4, 2, 3, 4])
  })

  test('--rate paces the copies: three rows at one per second take at least three seconds', async () => {
    const result = await replay('--key', '3', '--to-id', '9', '--rate', '1', '--yes')
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /^queued 3 row\(s\)/)
    assert.ok(result.elapsedMs >= 3000, `took ${result.elapsedMs} ms`)
    assert.match(result.stderr, /replay: 3\/3 \(100%\)/)
  })

  test('without --yes it refuses with exit 2 when stdin is not a terminal, and queues nothing', async () => {
    const before = await outboxCount()
    const result = await replay('--topic', topic)
    assert.equal(result.code, 2)
    assert.match(
      result.stderr,
      /refusing to replay \d+ row\(s\) without confirmation: stdin is not a terminal, so pass --yes/,
    )
    assert.equal(await outboxCount(), before)
  })

  test('without any row selector it is a usage error with exit 2', async () => {
    const result = await replay('--yes')
    assert.equal(result.code, 2)
    assert.match(result.stderr, /choose the rows to replay with at least one of --topic/)
  })
})
