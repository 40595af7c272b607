import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Kafka, logLevel } from 'kafkajs'
import knexFactory, { type Knex } from 'knex'
import { type OrderRow, orderEvent } from '../support/events.js'
import { lastCommittedProgressToken } from '../support/progress.js'
import { outboxFor, readTopic, startRelay } from '../support/relay.js'
import { createMigratedDatabase, queryRows, stack, uniqueName, waitFor } from '../support/stack.js'

describe("delivery: 'exactly-once'", () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let knex: Knex
  before(async () => {
    db = await createMigratedDatabase('pbeos')
    knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 4 } })
  })
  after(async () => {
    await knex.destroy()
    await db.drop()
  })

  const order = (id: number, version: number): OrderRow => ({
    id,
    customer: 'c',
    total_cents: 1,
    status: 's',
    version,
  })

  test('each row reaches a read_committed consumer once, in key order, inside Kafka transactions', async () => {
    const topic = uniqueName('eos')
    const Event = orderEvent(topic)
    const outbox = outboxFor([Event])
    const relay = await startRelay(db.url, [Event], { delivery: 'exactly-once', batchSize: 100 })
    try {
      for (let v = 0; v < 5; v++) {
        await knex.transaction((trx) =>
          outbox.enqueueMany(
            trx,
            Event,
            Array.from({ length: 40 }, (_, k) => order(k, v)),
          ),
        )
      }
      const records = await waitFor('200 records', async () => {
        const r = await readTopic(topic)
        return r.length >= 200 ? r : undefined
      })
      assert.equal(records.length, 200)
      assert.equal(new Set(records.map((r) => r.headers['event-id'])).size, 200, 'no duplicates')
      for (let k = 0; k < 40; k++) {
        assert.deepEqual(
          records.filter((r) => r.key === String(k)).map((r) => (r.value as { version: number }).version),
          [0, 1, 2, 3, 4],
        )
      }
      await waitFor('rows marked sent and no batch left in flight', async () => {
        const [row] = await queryRows<{ pending: number; inflight: number }>(
          db.url,
          `select (select count(*)::int from postbox.outbox where status = 'pending') as pending,
                  (select count(*)::int from postbox.inflight_batch) as inflight`,
        )
        return row?.pending === 0 && row.inflight === 0 ? true : undefined
      })
    } finally {
      await relay.stop()
    }
  })

  test('a relay taking a shard over marks the last committed batch sent instead of publishing it again', async () => {
    const topic = uniqueName('eos.takeover')
    const Event = orderEvent(topic)
    const outbox = outboxFor([Event])
    const first = await startRelay(db.url, [Event], { delivery: 'exactly-once', leaseTtlMs: 2000 })
    await knex.transaction((trx) => outbox.enqueue(trx, Event, order(1, 1)))
    await waitFor('published', async () => ((await readTopic(topic)).length === 1 ? true : undefined))
    await waitFor('marked', async () => {
      const rows = await queryRows<{ status: string }>(
        db.url,
        'select status from postbox.outbox where topic = $1',
        [topic],
      )
      return rows[0]?.status === 'sent' ? true : undefined
    })
    await first.stop()
    // Make the database forget the mark, as if the first relay died between Kafka's commit and
    // Postgres's update: the committed progress token must lead the next relay to the row.
    const [row] = await queryRows<{ id: string; shard: number }>(
      db.url,
      "update postbox.outbox set status = 'pending', sent_at = null where topic = $1 returning id::text, shard",
      [topic],
    )
    assert.ok(row)
    const token = await lastCommittedProgressToken(db.url, row.shard)
    await queryRows(
      db.url,
      `insert into postbox.inflight_batch (token, shard, ids, relay) values ($1, $2, $3, 'gone')`,
      [token, row.shard, [row.id]],
    )
    const second = await startRelay(db.url, [Event], { delivery: 'exactly-once', leaseTtlMs: 2000 })
    try {
      await waitFor('reconciled', async () => {
        const rows = await queryRows<{ status: string }>(
          db.url,
          'select status from postbox.outbox where topic = $1',
          [topic],
        )
        return rows[0]?.status === 'sent' ? true : undefined
      })
      assert.equal((await readTopic(topic)).length, 1, 'not published a second time')
    } finally {
      await second.stop()
    }
  })

  test('a takeover marks every committed transaction of the shard recorded before the last one, and none after it', async () => {
    // The state a relay leaves when it dies after committing a refused row's neighbours one
    // transaction at a time and before marking them: several records, the last committed one
    // named by Kafka.
    const topic = uniqueName('eos.parts')
    const Event = orderEvent(topic)
    const outbox = outboxFor([Event])
    const first = await startRelay(db.url, [Event], { delivery: 'exactly-once', leaseTtlMs: 2000 })
    for (const version of [1, 2]) {
      await knex.transaction((trx) => outbox.enqueue(trx, Event, order(7, version)))
      await waitFor(`version ${version} published`, async () =>
        (await readTopic(topic)).length === version ? true : undefined,
      )
    }
    await waitFor('marked', async () => {
      const rows = await queryRows<{ pending: number }>(
        db.url,
        "select count(*)::int as pending from postbox.outbox where topic = $1 and status = 'pending'",
        [topic],
      )
      return rows[0]?.pending === 0 ? true : undefined
    })
    await first.stop()
    const rows = await queryRows<{ id: string; shard: number }>(
      db.url,
      "update postbox.outbox set status = 'pending', sent_at = null where topic = $1 returning id::text, shard",
      [topic],
    )
    const [older, newer] = rows.sort((a, b) => Number(a.id) - Number(b.id))
    assert.ok(older && newer && older.shard === newer.shard)
    const committed = await lastCommittedProgressToken(db.url, newer.shard)
    // A third row of the key, recorded after the committed token: its transaction did not commit.
    await knex.transaction((trx) => outbox.enqueue(trx, Event, order(7, 3)))
    const [late] = await queryRows<{ id: string; shard: number }>(
      db.url,
      "select id::text, shard from postbox.outbox where topic = $1 and status = 'pending' order by id desc limit 1",
      [topic],
    )
    assert.ok(late && late.shard === newer.shard)
    for (const [token, shard, id] of [
      ['00000000-0000-4000-8000-000000000000', older.shard, older.id],
      [committed, newer.shard, newer.id],
      ['ffffffff-ffff-4fff-bfff-ffffffffffff', late.shard, late.id],
    ] as const) {
      await queryRows(
        db.url,
        `insert into postbox.inflight_batch (token, shard, ids, relay) values ($1, $2, $3, 'gone')`,
        [token, shard, [id]],
      )
    }
    const second = await startRelay(db.url, [Event], { delivery: 'exactly-once', leaseTtlMs: 2000 })
    try {
      const records = await waitFor('the uncommitted row published', async () => {
        const read = await readTopic(topic)
        return read.length >= 3 ? read : undefined
      })
      assert.deepEqual(
        records.map((r) => `${r.key}:${(r.value as { version: number }).version}`),
        ['7:1', '7:2', '7:3'],
        'the two committed rows are not published a second time',
      )
    } finally {
      await second.stop()
    }
  })

  test("a shard's batch over the broker's message.max.bytes goes out in requests under maxMessageBytes, in one transaction", async () => {
    const topic = uniqueName('eos.split')
    const Event = orderEvent(topic)
    const outbox = outboxFor([Event])
    // The topic takes at most 16 KiB per partition in one request; 200 rows of one key (~1 KiB
    // each) are one shard's batch of ~200 KiB, all for one partition.
    const admin = new Kafka({ brokers: stack.brokers, logLevel: logLevel.NOTHING }).admin()
    await admin.connect()
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic,
            numPartitions: 3,
            configEntries: [{ name: 'max.message.bytes', value: String(16 * 1024) }],
          },
        ],
      })
      await knex.transaction((trx) =>
        outbox.enqueueMany(
          trx,
          Event,
          Array.from({ length: 200 }, (_, v) => ({ ...order(1, v), customer: 'c'.repeat(1000) })),
        ),
      )
      const relay = await startRelay(db.url, [Event], {
        delivery: 'exactly-once',
        maxMessageBytes: 16 * 1024,
      })
      try {
        const records = await waitFor('200 records', async () => {
          const r = await readTopic(topic)
          return r.length >= 200 ? r : undefined
        })
        assert.deepEqual(
          records.map((r) => (r.value as { version: number }).version),
          Array.from({ length: 200 }, (_, v) => v),
          'every version once, in order',
        )
        const [partition] = new Set(records.map((r) => r.partition))
        const offsets = await admin.fetchTopicOffsets(topic)
        const high = Number(offsets.find((o) => o.partition === partition)?.high)
        // 200 records and one commit marker: one transaction. Sent row by row after a refusal of
        // the whole request, it would be 200 transactions, each with its own marker.
        assert.equal(high, 201)
      } finally {
        await relay.stop()
      }
      const [row] = await queryRows<{ sent: number }>(
        db.url,
        "select count(*)::int as sent from postbox.outbox where topic = $1 and status = 'sent'",
        [topic],
      )
      assert.equal(row?.sent, 200)
    } finally {
      await admin.disconnect()
    }
  })
})
