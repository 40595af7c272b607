import assert from 'node:assert/strict'
import { after, afterEach, before, describe, test } from 'node:test'
import pg from 'pg'
import { defineEvent } from '../../src/index.js'
import type { Relay } from '../../src/relay-api.js'
import { runPostbox } from '../support/cli.js'
import { type OrderRow, orderEvent, orderSchemaV1 } from '../support/events.js'
import { outboxFor, readTopic, startRelay } from '../support/relay.js'
import { createMigratedDatabase, queryRows, uniqueName, waitFor } from '../support/stack.js'
import { inTransaction } from '../support/transaction.js'

const CONFIG = 'test/cli/fixtures/orders.config.ts'

/** The same event after a fix: it also accepts a numeric customer, which the first mapping cannot publish. */
function fixedOrderEvent(topic: string) {
  const broken = orderEvent(topic)
  return defineEvent({
    type: broken.type,
    topic,
    key: (o: OrderRow) => String(o.id),
    schema: orderSchemaV1,
    toExternal: (o: OrderRow) => ({
      orderId: String(o.id),
      customer: String(o.customer),
      totalCents: o.total_cents,
      version: o.version ?? 0,
    }),
  })
}

interface OutboxRow {
  id: string
  status: string
  attempts: number
  last_error: string | null
  resolved_by: string | null
}

describe('postbox parked list|retry|skip', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let pool: pg.Pool
  const relays: Relay[] = []

  before(async () => {
    db = await createMigratedDatabase('pbcliparked')
    pool = new pg.Pool({ connectionString: db.url, max: 2 })
  })
  // Relays share the shards of the one database: only this test's relay may run during it.
  afterEach(async () => {
    for (const relay of relays.splice(0)) await relay.stop()
  })
  after(async () => {
    await pool.end()
    await db.drop()
  })

  const cli = (topic: string, ...args: string[]) =>
    runPostbox(['--config', CONFIG, ...args], { databaseUrl: db.url, env: { PBTEST_TOPIC: topic } })

  const relayFor = async (event: ReturnType<typeof orderEvent>) => {
    const relay = await startRelay(db.url, [event])
    relays.push(relay)
    return relay
  }

  /** An outbox row whose customer is a number: the event's Avro schema wants a string, so the relay parks it. */
  const insertUnpublishable = async (topic: string, key: string) => {
    const [row] = await queryRows<{ id: string }>(
      db.url,
      `insert into postbox.outbox (event_id, event_type, topic, key, payload)
       values (gen_random_uuid(), $1, $2, $3, $4) returning id::text`,
      [
        orderEvent(topic).type,
        topic,
        key,
        JSON.stringify({ id: Number(key), customer: 42, total_cents: 1, status: 'new', version: 1 }),
      ],
    )
    return row?.id ?? ''
  }

  const enqueueGood = (topic: string, id: number, version: number) => {
    const event = orderEvent(topic)
    return inTransaction(pool, (client) =>
      outboxFor([event]).enqueue(client, event, {
        id,
        customer: `customer-${id}`,
        total_cents: 100,
        status: 'new',
        version,
      }),
    )
  }

  const rowsOf = (topic: string) =>
    queryRows<OutboxRow>(
      db.url,
      'select id::text, status, attempts, last_error, resolved_by from postbox.outbox where topic = $1 order by id',
      [topic],
    )

  const waitForStatus = (id: string, status: string, attempts?: number) =>
    waitFor(`row ${id} ${status}`, async () => {
      const [row] = await queryRows<OutboxRow>(
        db.url,
        'select id::text, status, attempts, last_error, resolved_by from postbox.outbox where id = $1',
        [id],
      )
      return row?.status === status && (attempts === undefined || row.attempts === attempts) ? row : undefined
    })

  test('list shows each parked row with its event type, key, attempts, parked time and error, as a table and as JSON', async () => {
    const topic = uniqueName('cli.parked.list')
    await relayFor(orderEvent(topic))
    const id = await insertUnpublishable(topic, '7')
    await waitForStatus(id, 'parked')

    const text = await cli(topic, 'parked', 'list', '--topic', topic)
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /id\s+event type\s+key\s+attempts\s+parked at\s+last error/)
    const line = text.stdout.split('\n').find((l) => l.startsWith(`${id} `))
    assert.ok(line, text.stdout)
    assert.match(
      line,
      new RegExp(`${id}\\s+order\\.changed\\.${topic.replaceAll('.', '\\.')}\\s+7\\s+1\\s+\\d{4}-`),
    )
    assert.match(line, /customer/)

    const json = await cli(topic, 'parked', 'list', '--topic', topic, '--json')
    assert.equal(json.code, 0, json.stderr)
    const { rows } = JSON.parse(json.stdout) as { rows: Record<string, unknown>[] }
    assert.equal(rows.length, 1)
    assert.deepEqual(
      { ...rows[0], parkedAt: typeof rows[0]?.parkedAt, lastError: typeof rows[0]?.lastError },
      {
        id,
        eventType: orderEvent(topic).type,
        topic,
        key: '7',
        attempts: 1,
        parkedAt: 'string',
        lastError: 'string',
      },
    )
  })

  test('retry of a row that still cannot be published parks it again with attempts increased', async () => {
    const topic = uniqueName('cli.parked.again')
    await relayFor(orderEvent(topic))
    const id = await insertUnpublishable(topic, '8')
    await waitForStatus(id, 'parked', 1)

    const result = await cli(topic, 'parked', 'retry', id, '--by', 'alice')
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, new RegExp(`1 row\\(s\\) set back to pending: ${id}`))
    const row = await waitForStatus(id, 'parked', 2)
    assert.match(row.last_error ?? '', /customer/)
    assert.equal(row.resolved_by, 'alice')
  })

  test('retry publishes the row with the mapping the relay runs now, then the later rows of its key, in order', async () => {
    const topic = uniqueName('cli.parked.fixed')
    const brokenRelay = await relayFor(orderEvent(topic))
    const id = await insertUnpublishable(topic, '9')
    await enqueueGood(topic, 9, 2)
    await waitForStatus(id, 'parked')
    assert.deepEqual(
      (await rowsOf(topic)).map((r) => r.status),
      ['parked', 'pending'],
      'the later row of the key waits behind the parked one',
    )
    await brokenRelay.stop()
    relays.splice(relays.indexOf(brokenRelay), 1)
    await relayFor(fixedOrderEvent(topic))

    const result = await cli(topic, 'parked', 'retry', '--all', '--topic', topic, '--json')
    assert.equal(result.code, 0, result.stderr)
    assert.deepEqual(JSON.parse(result.stdout), { version: 1, retried: [id] })

    const published = await waitFor('both events of key 9', async () => {
      const records = await readTopic(topic)
      return records.length === 2 ? records : undefined
    })
    assert.deepEqual(
      published.map((r) => [
        r.key,
        (r.value as { customer: string; version: number }).customer,
        (r.value as { version: number }).version,
      ]),
      [
        ['9', '42', 1],
        ['9', 'customer-9', 2],
      ],
    )
    assert.deepEqual(
      (await rowsOf(topic)).map((r) => r.status),
      ['sent', 'sent'],
    )
  })

  test('skip marks the row skipped with who and why, publishes nothing for it, and lets later rows of its key flow', async () => {
    const topic = uniqueName('cli.parked.skip')
    await relayFor(orderEvent(topic))
    const id = await insertUnpublishable(topic, '10')
    await enqueueGood(topic, 10, 2)
    await waitForStatus(id, 'parked')

    const result = await cli(
      topic,
      'parked',
      'skip',
      id,
      '--reason',
      'customer id typo, fixed by hand',
      '--by',
      'bob',
      '--yes',
    )
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, new RegExp(`1 row\\(s\\) skipped: ${id}`))

    const published = await waitFor('the later event of key 10', async () => {
      const records = await readTopic(topic)
      return records.length > 0 ? records : undefined
    })
    assert.deepEqual(
      published.map((r) => [r.key, (r.value as { version: number }).version]),
      [['10', 2]],
    )
    const [skipped, later] = await rowsOf(topic)
    assert.equal(skipped?.status, 'skipped')
    assert.equal(skipped?.resolved_by, 'bob')
    assert.match(
      skipped?.last_error ?? '',
      /^skipped: customer id typo, fixed by hand \(parked with: .*customer/,
    )
    assert.equal(later?.status, 'sent')
  })

  test('skip without --yes refuses with exit 2 when stdin is not a terminal, and changes nothing', async () => {
    const topic = uniqueName('cli.parked.confirm')
    await relayFor(orderEvent(topic))
    const id = await insertUnpublishable(topic, '11')
    await waitForStatus(id, 'parked')

    const result = await cli(topic, 'parked', 'skip', id, '--reason', 'not sure yet')
    assert.equal(result.code, 2)
    assert.match(result.stderr, /stdin is not a terminal, so pass --yes/)
    assert.equal((await rowsOf(topic))[0]?.status, 'parked')
  })

  test('retry of a row that is not parked exits 1 and says why', async () => {
    const topic = uniqueName('cli.parked.notparked')
    const sent = await enqueueGood(topic, 12, 1)
    const result = await cli(topic, 'parked', 'retry', sent.id, '999999999')
    assert.equal(result.code, 1)
    assert.match(result.stderr, new RegExp(`row ${sent.id} is not parked \\(status pending\\)`))
    assert.match(result.stderr, /row 999999999 does not exist/)
  })

  test('retry without ids or --all is a usage error with exit 2', async () => {
    const result = await cli('unused', 'parked', 'retry')
    assert.equal(result.code, 2)
    assert.match(result.stderr, /give the row ids to retry, or --all/)
  })

  test('list and the replay dry-run sample order rows by id as numbers: of 9, 95, 1001, 1002, 1500, --limit 3 shows 9, 95, 1001', async () => {
    // Its own database, so these exact ids are free.
    const own = await createMigratedDatabase('pbcliparkedids')
    try {
      const topic = uniqueName('cli.parked.order')
      // Inserted in an order that is neither numeric nor textual.
      for (const id of ['1500', '95', '1002', '9', '1001']) {
        await queryRows(
          own.url,
          `insert into postbox.outbox (id, event_id, event_type, topic, key, payload, status, parked_at, attempts, last_error)
           overriding system value
           values ($1::bigint, gen_random_uuid(), $2, $3, $1::text, '{}', 'parked', now(), 1, 'refused')`,
          [id, orderEvent(topic).type, topic],
        )
      }
      const run = (...args: string[]) =>
        runPostbox(['--config', CONFIG, ...args], { databaseUrl: own.url, env: { PBTEST_TOPIC: topic } })

      const json = await run('parked', 'list', '--limit', '3', '--json')
      assert.equal(json.code, 0, json.stderr)
      assert.deepEqual(
        (JSON.parse(json.stdout) as { rows: { id: string }[] }).rows.map((r) => r.id),
        ['9', '95', '1001'],
      )
      const text = await run('parked', 'list', '--limit', '3')
      assert.equal(text.code, 0, text.stderr)
      const ids = text.stdout
        .split('\n')
        .filter((line) => /^\d+ /.test(line))
        .map((line) => line.split(' ')[0])
      assert.deepEqual(ids, ['9', '95', '1001'])

      const dryRun = await run('replay', '--topic', topic, '--dry-run', '--sample', '3', '--json')
      assert.equal(dryRun.code, 0, dryRun.stderr)
      assert.deepEqual(
        (JSON.parse(dryRun.stdout) as { sample: { id: string }[] }).sample.map((r) => r.id),
        ['9', '95', '1001'],
      )
    } finally {
      await own.drop()
    }
  })
})
