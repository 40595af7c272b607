import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { UnavailableError } from '../../src/errors.js'
import type { OutgoingMessage } from '../../src/kafka/ports.js'
import { silentLogger } from '../../src/observe/logger.js'
import { BlockedKeys } from '../../src/relay/blocked-keys.js'
import { ExactlyOncePublisher, progressToken } from '../../src/relay/exactly-once-publisher.js'
import { AtLeastOncePublisher, type Encoded, recordBytes, requestChunks } from '../../src/relay/publishers.js'
import { FakeDatabase, FakeKafka, MemoryStore, type StoredRow, storedRow } from './relay-fakes.js'

function encoded(row: StoredRow): Encoded {
  return {
    row,
    message: { topic: row.topic, key: Buffer.from(row.key), value: Buffer.from(row.id), headers: {} },
  }
}

/** Rows for keys a, b, a, b, a on one topic, spread over `shards` shards by key. */
function batchOf(store: MemoryStore, shards = 1): StoredRow[] {
  const rows = ['a', 'b', 'a', 'b', 'a'].map((key) =>
    storedRow({ event_type: 'e', topic: 't', key, shard: key === 'a' ? 0 : shards - 1 }),
  )
  store.add(...rows)
  return rows
}

const keysOf = (kafka: FakeKafka) => kafka.published.map((m) => `${m.key}${m.value}`)

describe('at-least-once publisher', () => {
  test('publishes the whole batch in one send', async () => {
    const kafka = new FakeKafka()
    const rows = batchOf(new MemoryStore())
    const outcome = await new AtLeastOncePublisher(kafka.producer()).publish(
      rows.map(encoded),
      new BlockedKeys(),
    )
    assert.deepEqual(outcome.sent, rows)
    assert.deepEqual(kafka.sends, [5])
  })

  test('a batch larger than one request may be goes out in consecutive sends under the bound, in order', async () => {
    const kafka = new FakeKafka()
    const rows = batchOf(new MemoryStore())
    const items = rows.map((row) => ({
      row,
      message: { topic: row.topic, key: Buffer.from(row.key), value: Buffer.alloc(400, 1), headers: {} },
    }))
    const perRecord = recordBytes(items[0]?.message as OutgoingMessage)
    // Room for two records and the batch framing, not three.
    const bound = 100 + 2 * perRecord + 10
    const outcome = await new AtLeastOncePublisher(kafka.producer(), bound).publish(items, new BlockedKeys())
    assert.deepEqual(outcome.sent, rows)
    assert.deepEqual(kafka.sends, [2, 2, 1])
    assert.deepEqual(
      kafka.published.map((m) => m.key.toString()),
      rows.map((r) => r.key),
    )
    for (const chunk of requestChunks(items, bound)) {
      assert.ok(100 + chunk.reduce((sum, item) => sum + recordBytes(item.message), 0) <= bound)
    }
  })

  test('a refused record is isolated: only it is refused, its key stops, other keys are published', async () => {
    const kafka = new FakeKafka()
    const rows = batchOf(new MemoryStore())
    const poison = rows[2] as StoredRow
    kafka.refuse = (m) => m.value?.toString() === poison.id
    const blocked = new BlockedKeys()
    const outcome = await new AtLeastOncePublisher(kafka.producer()).publish(rows.map(encoded), blocked)
    assert.deepEqual(
      outcome.refused.map((r) => r.row),
      [poison],
    )
    assert.deepEqual(outcome.sent, [rows[0], rows[1], rows[3]])
    assert.ok(blocked.isBlocked(poison), 'the key waits behind the refused row')
    assert.deepEqual(keysOf(kafka), [`a${rows[0]?.id}`, `b${rows[1]?.id}`, `b${rows[3]?.id}`])
  })

  test('rows of a key blocked earlier in the batch are not sent', async () => {
    const kafka = new FakeKafka()
    const rows = batchOf(new MemoryStore())
    const blocked = new BlockedKeys()
    blocked.block(rows[0] as StoredRow)
    const outcome = await new AtLeastOncePublisher(kafka.producer()).publish(rows.map(encoded), blocked)
    assert.deepEqual(outcome.sent, [rows[1], rows[3]])
  })

  test('an outage refuses nothing: the failure propagates so the relay backs off', async () => {
    const kafka = new FakeKafka()
    kafka.outage = new UnavailableError('kafka', 'publishing failed (TOPIC_AUTHORIZATION_FAILED)')
    const rows = batchOf(new MemoryStore())
    await assert.rejects(
      new AtLeastOncePublisher(kafka.producer()).publish(rows.map(encoded), new BlockedKeys()),
      UnavailableError,
    )
    assert.equal(kafka.published.length, 0)
  })
})

describe('exactly-once publisher', () => {
  async function setUp(shards: number, maxRequestBytes?: number) {
    const kafka = new FakeKafka()
    const store = new MemoryStore(shards)
    const queries = store.queries()
    const leases = await queries.leases.acquireShards(new FakeDatabase(), 'r1', 60_000, shards)
    const publisher = new ExactlyOncePublisher({
      kafka,
      db: new FakeDatabase(),
      queries,
      relayId: 'r1',
      prefix: 'pb',
      logger: silentLogger,
      ...(maxRequestBytes === undefined ? {} : { maxRequestBytes }),
    })
    assert.deepEqual(await publisher.sync(leases), [...Array(shards).keys()])
    return { kafka, store, queries, leases, publisher }
  }

  test('each shard commits its rows and its progress token in one transaction', async () => {
    const { kafka, store, publisher } = await setUp(2)
    const rows = batchOf(store, 2)
    const outcome = await publisher.publish(rows.map(encoded), new BlockedKeys())
    assert.deepEqual(outcome.sent, rows)
    assert.deepEqual(kafka.sends.sort(), [2, 3])
    assert.equal(kafka.committed.size, 2)
    assert.equal(store.inflight.size, 2, 'each batch is recorded in flight until the relay marks it')
  })

  test("a shard's batch larger than one request goes out in requests under the bound, all in one transaction", async () => {
    const store = new MemoryStore(1)
    const rows = batchOf(store)
    const items = rows.map((row) => ({
      row,
      message: { topic: row.topic, key: Buffer.from(row.key), value: Buffer.alloc(400, 1), headers: {} },
    }))
    // Room for two records and the batch framing, not three.
    const bound = 100 + 2 * recordBytes(items[0]?.message as OutgoingMessage) + 10
    const { kafka, publisher } = await setUp(1, bound)
    const outcome = await publisher.publish(items, new BlockedKeys())
    assert.deepEqual(outcome.sent, rows)
    assert.deepEqual(kafka.sends, [2, 2, 1])
    assert.deepEqual(kafka.transactions, [3], 'one transaction of three requests, one progress token')
    assert.equal(kafka.committed.size, 1)
    assert.deepEqual(
      kafka.published.map((m) => m.key.toString()),
      rows.map((r) => r.key),
    )
  })

  test('a fenced shard is reported lost and publishes nothing; the other shard goes on', async () => {
    const { kafka, store, publisher } = await setUp(2)
    kafka.fence('pb.0')
    const rows = batchOf(store, 2)
    const outcome = await publisher.publish(rows.map(encoded), new BlockedKeys())
    assert.deepEqual(outcome.lostShards, [0])
    assert.deepEqual(outcome.sent, [rows[1], rows[3]])
    assert.equal(outcome.failure, undefined)
  })

  test('a refused record is isolated into its own transaction and refused alone', async () => {
    const { kafka, store, publisher } = await setUp(1)
    const rows = batchOf(store)
    const poison = rows[1] as StoredRow
    kafka.refuse = (m) => m.value?.toString() === poison.id
    const outcome = await publisher.publish(rows.map(encoded), new BlockedKeys())
    assert.deepEqual(
      outcome.refused.map((r) => r.row),
      [poison],
    )
    assert.deepEqual(outcome.sent, [rows[0], rows[2], rows[4]])
  })

  test('a relay that dies after the isolated transactions of a refused row committed: the takeover marks every committed part, not only the last', async () => {
    const { kafka, store, leases, publisher } = await setUp(1)
    const rows = batchOf(store)
    const poison = rows[1] as StoredRow
    kafka.refuse = (m) => m.value?.toString() === poison.id
    const outcome = await publisher.publish(rows.map(encoded), new BlockedKeys())
    assert.deepEqual(outcome.sent, [rows[0], rows[2], rows[4]])
    // The relay dies here, before its marks; it comes back under the same lease and takes the shard over.
    const takeover = new ExactlyOncePublisher({
      kafka,
      db: new FakeDatabase(),
      queries: store.queries(),
      relayId: 'r1',
      prefix: 'pb',
      logger: silentLogger,
    })
    assert.deepEqual(await takeover.sync(leases), [0])
    assert.deepEqual(
      rows.map((r) => store.statusOf(r)),
      ['sent', 'pending', 'sent', 'pending', 'sent'],
      'the three rows committed one by one are sent; the refused row and the row behind it are not',
    )
    assert.equal(store.inflight.size, 0)
  })

  test('progress tokens sort in the order they were made', () => {
    const tokens = [1, 2, 15, 16, 255, 4096, Date.now(), Date.now() + 1].map(progressToken)
    assert.deepEqual([...tokens].sort(), tokens)
    for (const token of tokens)
      assert.match(token, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })

  test('a commit with an unknown outcome restarts the shard; the takeover marks the committed batch sent instead of publishing it again', async () => {
    const { kafka, store, queries, leases, publisher } = await setUp(1)
    const rows = batchOf(store)
    kafka.failAfterNextCommit = true
    const outcome = await publisher.publish(rows.map(encoded), new BlockedKeys())
    assert.ok(outcome.failure instanceof UnavailableError)
    assert.deepEqual(outcome.sent, [])
    await publisher.afterMarked([0])
    assert.equal(store.inflight.size, 1, 'the in-flight record survives for the takeover')

    assert.deepEqual(await publisher.sync(leases), [0])
    assert.deepEqual(
      rows.map((r) => store.statusOf(r)),
      ['sent', 'sent', 'sent', 'sent', 'sent'],
    )
    assert.equal(store.inflight.size, 0)
    const again = await queries.outbox.claimPendingBatch(new FakeDatabase(), [0], 100)
    assert.deepEqual(again, [], 'nothing is left to publish a second time')
    assert.equal(kafka.published.length, 5)
  })

  test('a commit that did not happen is published again after the restart', async () => {
    const { kafka, store, leases, publisher } = await setUp(1)
    const rows = batchOf(store)
    kafka.outage = new UnavailableError('kafka', 'publishing failed (KafkaJSConnectionError)')
    const outcome = await publisher.publish(rows.map(encoded), new BlockedKeys())
    assert.ok(outcome.failure instanceof UnavailableError)
    kafka.outage = null
    assert.deepEqual(await publisher.sync(leases), [0])
    assert.deepEqual(
      rows.map((r) => store.statusOf(r)),
      ['pending', 'pending', 'pending', 'pending', 'pending'],
    )
    const retry = await publisher.publish(rows.map(encoded), new BlockedKeys())
    assert.deepEqual(retry.sent, rows)
    assert.equal(kafka.published.length, 5)
  })

  test('a shard held again under a newer epoch is taken over afresh, with a producer of its own', async () => {
    const { kafka, store, publisher, leases } = await setUp(1)
    // Meanwhile another relay held the shard and started its producer, fencing ours.
    kafka.fence('pb.0')
    const newer = leases.map((l) => ({ ...l, epoch: String(Number(l.epoch) + 1) }))
    assert.deepEqual(await publisher.sync(newer), [0])
    const rows = batchOf(store)
    const outcome = await publisher.publish(rows.map(encoded), new BlockedKeys())
    assert.deepEqual(outcome.lostShards, [])
    assert.deepEqual(outcome.sent, rows)
  })
})
