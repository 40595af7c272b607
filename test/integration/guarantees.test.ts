import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import knexFactory, { type Knex } from 'knex'
import pg from 'pg'
import { defineEvent } from '../../src/index.js'
import type { Relay } from '../../src/relay-api.js'
import { type OrderRow, orderEvent, orderSchemaV1 } from '../support/events.js'
import { outboxFor, readTopic, startRelay } from '../support/relay.js'
import { createMigratedDatabase, queryRows, uniqueName, waitFor } from '../support/stack.js'

describe('never lose, never reorder', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let knex: Knex
  before(async () => {
    db = await createMigratedDatabase('pbguarantee')
    knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 4 } })
  })
  after(async () => {
    await knex.destroy()
    await db.drop()
  })

  const order = (id: number, version: number, customer = 'c'): OrderRow => ({
    id,
    customer,
    total_cents: 1,
    status: 'new',
    version,
  })
  const statusOf = async (topic: string, key: string) =>
    (
      await queryRows<{ status: string }>(
        db.url,
        'select status from postbox.outbox where topic = $1 and key = $2 order by id',
        [topic, key],
      )
    ).map((r) => r.status)

  test('a row whose transaction commits after later rows were committed is still published, and its key stays in order', async () => {
    const topic = uniqueName('g.gap')
    const Event = orderEvent(topic)
    const outbox = outboxFor([Event])
    const relay = await startRelay(db.url, [Event], { stallWarningMs: 300 })
    const slow = new pg.Client({ connectionString: db.url })
    await slow.connect()
    try {
      await slow.query('begin')
      const [{ pid }] = (await slow.query('select pg_backend_pid() as pid')).rows as [{ pid: number }]
      await outbox.enqueue(slow, Event, order(1, 1))
      await knex.transaction((trx) => outbox.enqueue(trx, Event, order(1, 2)))
      await knex.transaction((trx) => outbox.enqueue(trx, Event, order(2, 1)))

      const stall = await waitFor(
        'the relay to name the open transaction',
        async () => relay.health().stall ?? undefined,
      )
      assert.equal(stall.transaction?.pid, pid)
      assert.equal(stall.pendingRows, 2, 'both later rows wait behind the open transaction')
      assert.match(relay.health().reason ?? '', new RegExp(`pid ${pid}`))
      assert.deepEqual(
        await statusOf(topic, '1'),
        ['pending'],
        'the committed later row of key 1 is held back',
      )

      await slow.query('commit')
      const records = await waitFor('three records', async () => {
        const r = await readTopic(topic)
        return r.length === 3 ? r : undefined
      })
      const key1 = records.filter((r) => r.key === '1').map((r) => (r.value as { version: number }).version)
      assert.deepEqual(key1, [1, 2], 'key 1 in id order although its first row committed last')
      await waitFor('stall cleared', async () => (relay.health().stall === null ? true : undefined))
    } finally {
      await slow.end()
      await relay.stop()
    }
  })

  test('a row the relay cannot map is parked with its error; later rows of its key wait, other keys flow', async () => {
    const topic = uniqueName('g.park')
    const Writer = orderEvent(topic)
    const RelaySide = defineEvent({
      type: Writer.type,
      topic,
      key: (o: OrderRow) => String(o.id),
      schema: orderSchemaV1,
      toExternal: (o: OrderRow) => {
        if (o.customer === 'poison') throw new Error('customer "poison" cannot be mapped')
        return {
          orderId: String(o.id),
          customer: o.customer,
          totalCents: o.total_cents,
          version: o.version ?? 0,
        }
      },
    })
    const outbox = outboxFor([Writer])
    await knex.transaction((trx) =>
      outbox.enqueueMany(trx, Writer, [order(1, 1, 'poison'), order(2, 1), order(1, 2), order(2, 2)]),
    )
    const relay = await startRelay(db.url, [RelaySide])
    try {
      const records = await waitFor('key 2 published', async () => {
        const r = await readTopic(topic)
        return r.length === 2 ? r : undefined
      })
      assert.deepEqual(
        records.map((r) => [r.key, (r.value as { version: number }).version]),
        [
          ['2', 1],
          ['2', 2],
        ],
      )
      const parked = await waitFor('parked row', async () => {
        const rows = await queryRows<{ status: string; attempts: number; last_error: string }>(
          db.url,
          "select status, attempts, last_error from postbox.outbox where key = '1' and topic = $1 order by id",
          [topic],
        )
        return rows[0]?.status === 'parked' ? rows : undefined
      })
      assert.equal(parked[0]?.attempts, 1)
      assert.match(parked[0]?.last_error ?? '', /poison/)
      assert.equal(parked[1]?.status, 'pending', 'the later row of key 1 waits behind the parked one')

      await queryRows(
        db.url,
        "update postbox.outbox set status = 'skipped' where key = '1' and status = 'parked' and topic = $1",
        [topic],
      )
      const after = await waitFor('key 1 released', async () => {
        const r = await readTopic(topic)
        return r.length === 3 ? r : undefined
      })
      assert.deepEqual(
        after.filter((r) => r.key === '1').map((r) => (r.value as { version: number }).version),
        [2],
      )
    } finally {
      await relay.stop()
    }
  })

  test('a record over maxMessageBytes is parked instead of blocking the relay', async () => {
    const topic = uniqueName('g.large')
    const Event = orderEvent(topic)
    const outbox = outboxFor([Event])
    await knex.transaction((trx) =>
      outbox.enqueueMany(trx, Event, [order(1, 1, 'x'.repeat(5000)), order(2, 1, 'small')]),
    )
    const relay = await startRelay(db.url, [Event], { maxMessageBytes: 1000 })
    try {
      await waitFor('small record', async () => ((await readTopic(topic)).length === 1 ? true : undefined))
      const [row] = await waitFor('parked', async () => {
        const r = await queryRows<{ status: string; last_error: string }>(
          db.url,
          "select status, last_error from postbox.outbox where key = '1' and topic = $1",
          [topic],
        )
        return r[0]?.status === 'parked' ? r : undefined
      })
      assert.match(row?.last_error ?? '', /over maxMessageBytes 1000/)
    } finally {
      await relay.stop()
    }
  })

  test('two relays split the shards evenly and one takes all of them when the other stops', async () => {
    const topic = uniqueName('g.split')
    const Event = orderEvent(topic)
    const outbox = outboxFor([Event])
    const settings = { leaseTtlMs: 2000 }
    const a = await startRelay(db.url, [Event], settings)
    let b: Relay | null = null
    try {
      await waitFor('a holds all shards', async () => (a.health().shards.length === 16 ? true : undefined))
      b = await startRelay(db.url, [Event], settings)
      const relayB = b
      await waitFor(
        'an even split',
        async () =>
          a.health().shards.length === 8 && relayB.health().shards.length === 8 ? true : undefined,
        20_000,
      )
      const overlap = a.health().shards.filter((s) => relayB.health().shards.includes(s))
      assert.deepEqual(overlap, [])

      await knex.transaction((trx) =>
        outbox.enqueueMany(
          trx,
          Event,
          Array.from({ length: 200 }, (_, i) => order(i, 1)),
        ),
      )
      await waitFor('200 records from both relays', async () =>
        (await readTopic(topic)).length === 200 ? true : undefined,
      )

      await b.stop()
      b = null
      await waitFor(
        'a takes every shard back',
        async () => (a.health().shards.length === 16 ? true : undefined),
        20_000,
      )
    } finally {
      await b?.stop()
      await a.stop()
    }
  })

  test('a relay whose shard leases were taken over (newer epoch) cannot mark rows sent and lets the shards go', async () => {
    const topic = uniqueName('g.fence')
    const Event = orderEvent(topic)
    const outbox = outboxFor([Event])
    const relay = await startRelay(db.url, [Event], { leaseTtlMs: 2000 })
    try {
      await waitFor('leases', async () => (relay.health().shards.length === 16 ? true : undefined))
      await queryRows(
        db.url,
        "update postbox.shard_lease set owner = 'intruder', epoch = epoch + 1, expires_at = now() + interval '1 hour'",
      )
      await knex.transaction((trx) => outbox.enqueue(trx, Event, order(1, 1)))
      await waitFor('the relay notices', async () => (relay.health().shards.length === 0 ? true : undefined))
      await new Promise((r) => setTimeout(r, 1500))
      assert.deepEqual(await statusOf(topic, '1'), ['pending'], 'nothing marked under a lost lease')
    } finally {
      await relay.stop()
    }
    const owners = await queryRows<{ owner: string }>(
      db.url,
      'select distinct owner from postbox.shard_lease',
    )
    assert.deepEqual(owners, [{ owner: 'intruder' }], "stopping does not release another relay's leases")
  })
})
