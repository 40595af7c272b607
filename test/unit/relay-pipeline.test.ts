import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type RelaySettings, resolveConfig } from '../../src/config.js'
import type { ClaimOptions } from '../../src/db/outbox-queries.js'
import type { EventProducer, OutgoingMessage, ShardProducer } from '../../src/kafka/ports.js'
import { type BatchReport, Relay } from '../../src/relay/relay.js'
import { type OrderRow, orderEvent } from '../support/events.js'
import {
  FakeDatabase,
  FakeKafka,
  fakeRegistry,
  MemoryStore,
  recordingLogger,
  storedRow,
} from './relay-fakes.js'

const Orders = orderEvent('orders')

function row(key: string) {
  const snapshot: OrderRow = { id: Number(key), customer: 'c', total_cents: 1, status: 's' }
  return storedRow({ event_type: Orders.type, topic: 'orders', key, payload: snapshot })
}

/** A promise the test resolves when it chooses. */
function gate() {
  let open: () => void = () => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { opened, open }
}

/** FakeKafka whose sends wait for `hold` (when set) and record what was in flight. */
class SlowKafka extends FakeKafka {
  hold: Promise<void> | null = null
  /** Sends started and not yet finished. */
  sending = 0
  /** How many sends had started when each claim ran (filled by the relay fixture). */
  override producer(): EventProducer {
    const inner = super.producer()
    return {
      connect: () => inner.connect(),
      send: async (messages) => {
        this.sending++
        try {
          await (this.hold ?? new Promise((resolve) => setImmediate(resolve)))
          return await inner.send(messages)
        } finally {
          this.sending--
        }
      },
      close: () => inner.close(),
    }
  }

  override async shardProducer(transactionalId: string): Promise<ShardProducer> {
    const inner = await super.shardProducer(transactionalId)
    return {
      publishAtomically: async (requests, progress) => {
        this.sending++
        try {
          await (this.hold ?? new Promise((resolve) => setImmediate(resolve)))
          return await inner.publishAtomically(requests, progress)
        } finally {
          this.sending--
        }
      },
      close: () => inner.close(),
    }
  }
}

interface Claim {
  ids: string[]
  exclude: readonly string[]
  /** Sends in flight when the claim ran. */
  sendingDuring: number
}

/** A relay over the fakes; the claim honours `exclude` and every claim is recorded. */
function pipelinedRelay(settings: RelaySettings = {}) {
  const store = new MemoryStore(1)
  const kafka = new SlowKafka()
  const queries = store.queries()
  const claims: Claim[] = []
  const claimAll = queries.outbox.claimPendingBatch
  queries.outbox.claimPendingBatch = async (db, shards, limit, options: ClaimOptions = {}) => {
    const exclude = options.exclude ?? []
    const all = await claimAll(db, shards, Number.MAX_SAFE_INTEGER)
    const rows = all.filter((r) => !exclude.includes(r.id)).slice(0, limit)
    claims.push({ ids: rows.map((r) => r.id), exclude, sendingDuring: kafka.sending })
    return rows
  }
  const batches: BatchReport[] = []
  const config = resolveConfig({
    events: [Orders],
    databaseUrl: 'postgres://unused/db',
    kafka: { brokers: ['unused:9092'] },
    registry: { url: 'http://unused' },
    relay: {
      id: 'r1',
      pollIntervalMs: 50,
      minPollIntervalMs: 5,
      backoff: { initialMs: 5, maxMs: 20 },
      listen: false,
      ...settings,
    },
  })
  const relay = new Relay(config, {
    db: new FakeDatabase(),
    kafka,
    registry: fakeRegistry,
    queries,
    logger: recordingLogger(),
    hooks: { onBatch: (report) => batches.push(report) },
  })
  return { relay, store, kafka, claims, batches }
}

/** Polls until `check` holds (the relay runs in the background). */
async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (check()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  assert.fail(`never happened: ${what}`)
}

const outboxIds = (messages: readonly OutgoingMessage[]) => messages.map((m) => m.headers['outbox-id'])

describe('Relay pipelining (at-least-once)', () => {
  test('the next batch is claimed while the previous one is produced, without its ids', async () => {
    const { relay, store, kafka, claims } = pipelinedRelay({ batchSize: 3 })
    const rows = ['1', '2', '3', '4', '5', '6', '7', '8', '9'].map(row)
    store.add(...rows)
    const first = gate()
    kafka.hold = first.opened
    await relay.start()
    try {
      await until('a second claim during the first send', () => claims.length >= 2)
      assert.equal(kafka.published.length, 0, 'the first send has not finished')
      assert.equal(claims[1]?.sendingDuring, 1, 'the second claim ran while the first batch was produced')
      assert.deepEqual(claims[1]?.exclude, claims[0]?.ids, 'it skipped the ids in flight')
      assert.deepEqual(
        claims[1]?.ids,
        rows.slice(3, 6).map((r) => r.id),
      )
      kafka.hold = null
      first.open()
      await until('all rows sent', () => rows.every((r) => store.statusOf(r) === 'sent'))
      assert.deepEqual(
        outboxIds(kafka.published),
        rows.map((r) => r.id),
        'each row once, in id order',
      )
    } finally {
      await relay.stop()
    }
  })

  test('rows of a key in flight are held back from the next batch: a refused row keeps its key waiting', async () => {
    const { relay, store, kafka, claims } = pipelinedRelay({ batchSize: 2 })
    // Batch N: 1/a (Kafka refuses it for good) and 2/b. Batch N+1, claimed while N is produced:
    // 1/a2 (same key as the refused row) and 3/c.
    const a1 = row('1')
    const b1 = row('2')
    const a2 = row('1')
    const c1 = row('3')
    store.add(a1, b1, a2, c1)
    kafka.refuse = (m) => m.headers['outbox-id'] === a1.id
    const first = gate()
    kafka.hold = first.opened
    await relay.start()
    try {
      await until('the next batch claimed during the first send', () => claims.length >= 2)
      assert.deepEqual(claims[1]?.ids, [a2.id, c1.id], 'the row behind 1/a was claimed before 1/a was parked')
      kafka.hold = null
      first.open()
      await until('3/c sent', () => store.statusOf(c1) === 'sent')
      assert.equal(store.statusOf(a1), 'parked')
      assert.equal(store.statusOf(a2), 'pending', 'the later row of the parked key waits behind it')
      assert.deepEqual(outboxIds(kafka.published), [b1.id, c1.id])
    } finally {
      await relay.stop()
    }
  })

  test('over many pipelined batches every key is published in id order, each row once', async () => {
    const { relay, store, kafka, claims } = pipelinedRelay({ batchSize: 4 })
    const keys = ['1', '2', '1', '1', '3', '2', '1', '4', '4', '1', '2', '3', '1', '5', '1', '1', '2', '6']
    const rows = [...keys, ...keys, ...keys].map(row)
    store.add(...rows)
    await relay.start()
    try {
      await until('all rows sent', () => rows.every((r) => store.statusOf(r) === 'sent'))
      assert.ok(
        claims.some((c) => c.sendingDuring > 0),
        'some claim ran while a batch was produced',
      )
      const ids = outboxIds(kafka.published)
      assert.deepEqual([...ids].sort(), rows.map((r) => r.id).sort(), 'each row published once')
      for (const key of new Set(keys)) {
        const ofKey = kafka.published
          .filter((m) => m.key.toString() === key)
          .map((m) => m.headers['outbox-id'])
        const expected = rows.filter((r) => r.key === key).map((r) => r.id)
        assert.deepEqual(ofKey, expected, `key ${key} in id order`)
      }
    } finally {
      await relay.stop()
    }
  })

  test('stop() finishes and marks the batch being produced; the batch prepared meanwhile stays pending', async () => {
    const { relay, store, kafka, claims } = pipelinedRelay({ batchSize: 2 })
    const rows = ['1', '2', '3', '4', '5', '6'].map(row)
    store.add(...rows)
    const first = gate()
    kafka.hold = first.opened
    await relay.start()
    await until('the next batch claimed during the first send', () => claims.length >= 2)
    const stopping = relay.stop()
    first.open()
    await stopping
    const published = outboxIds(kafka.published)
    assert.deepEqual(published, claims[0]?.ids, 'the batch in flight was finished')
    for (const r of rows) {
      assert.equal(store.statusOf(r), published.includes(r.id) ? 'sent' : 'pending', `row ${r.id}`)
    }
    assert.equal(claims.length, 2, 'nothing was claimed after stop()')
  })

  test('exactly-once stays one batch at a time', async () => {
    const { relay, store, kafka, claims } = pipelinedRelay({ batchSize: 2, delivery: 'exactly-once' })
    const rows = ['1', '2', '3', '4', '5', '6'].map(row)
    store.add(...rows)
    await relay.start()
    try {
      await until('all rows sent', () => rows.every((r) => store.statusOf(r) === 'sent'))
      assert.ok(claims.length >= 3)
      assert.ok(
        claims.every((c) => c.sendingDuring === 0 && c.exclude.length === 0),
        'no claim ran while a batch was produced',
      )
      assert.deepEqual(
        outboxIds(kafka.published),
        rows.map((r) => r.id),
      )
    } finally {
      await relay.stop()
    }
  })
})
