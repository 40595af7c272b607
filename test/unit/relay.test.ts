import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type RelaySettings, resolveConfig } from '../../src/config.js'
import { UnavailableError } from '../../src/errors.js'
import { type BatchReport, Relay } from '../../src/relay/relay.js'
import { type OrderRow, orderEvent } from '../support/events.js'
import {
  FakeDatabase,
  FakeKafka,
  fakeRegistry,
  type LogLine,
  MemoryStore,
  recordingLogger,
  storedRow,
} from './relay-fakes.js'

const Orders = orderEvent('orders')
const Poison = orderEvent('poison', undefined, { totalCents: 'not a number' })

function row(key: string, options: { type?: string; topic?: string } = {}) {
  const snapshot: OrderRow = { id: Number(key), customer: 'c', total_cents: 1, status: 's' }
  return storedRow({
    event_type: options.type ?? Orders.type,
    topic: options.topic ?? 'orders',
    key,
    payload: snapshot,
  })
}

/** A relay over in-memory fakes of its database, Kafka and registry. */
function fakeRelay(settings: RelaySettings = {}) {
  const store = new MemoryStore(2)
  const kafka = new FakeKafka()
  const db = new FakeDatabase()
  const lines: LogLine[] = []
  const batches: BatchReport[] = []
  const config = resolveConfig({
    events: [Orders, Poison],
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
    db,
    kafka,
    registry: fakeRegistry,
    queries: store.queries(),
    logger: recordingLogger(lines),
    hooks: { onBatch: (report) => batches.push(report) },
  })
  return { relay, store, kafka, db, lines, batches }
}

/** Polls until `check` holds (the relay runs in the background). */
async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (check()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  assert.fail(`never happened: ${what}`)
}

const publishedKeys = (kafka: FakeKafka) => kafka.published.map((m) => `${m.topic}/${m.key}`)

describe('Relay, assembled from fakes of its parts', () => {
  for (const delivery of ['at-least-once', 'exactly-once'] as const) {
    test(`${delivery}: every row is published in order, marked sent and reported`, async () => {
      const { relay, store, kafka, batches } = fakeRelay({ delivery })
      const rows = ['1', '2', '1', '3', '2'].map((key) => row(key))
      store.add(...rows)
      await relay.start()
      try {
        await until('all rows sent', () => rows.every((r) => store.statusOf(r) === 'sent'))
        assert.deepEqual(
          publishedKeys(kafka),
          rows.map((r) => `orders/${r.key}`),
        )
        assert.equal(
          batches.reduce((n, b) => n + b.published, 0),
          5,
        )
        assert.equal(relay.health().ready, true)
        assert.equal(store.inflight.size, 0, 'no batch is left in flight')
      } finally {
        await relay.stop()
      }
    })
  }

  for (const [delivery, copies] of [
    ['exactly-once', 1],
    ['at-least-once', 2],
  ] as const) {
    test(`${delivery}: when marking fails after Kafka acknowledged, each row reaches Kafka ${copies === 1 ? 'once' : 'at most twice'}`, async () => {
      const { relay, store, kafka } = fakeRelay({ delivery })
      const rows = ['1', '2', '3'].map((key) => row(key))
      store.add(...rows)
      store.markFailures = 1
      await relay.start()
      try {
        await until('all rows sent', () => rows.every((r) => store.statusOf(r) === 'sent'))
        assert.deepEqual(
          publishedKeys(kafka),
          Array.from({ length: copies }, () => rows.map((r) => `orders/${r.key}`)).flat(),
        )
      } finally {
        await relay.stop()
      }
    })
  }

  test('a row that cannot be mapped is parked; later rows of its key wait, other keys flow', async () => {
    const { relay, store, kafka } = fakeRelay()
    const poison = row('1', { type: Poison.type, topic: 'poison' })
    const behind = row('1', { type: Poison.type, topic: 'poison' })
    const other = row('2')
    store.add(poison, behind, other)
    await relay.start()
    try {
      await until('other key sent', () => store.statusOf(other) === 'sent')
      assert.equal(store.statusOf(poison), 'parked')
      assert.equal(store.statusOf(behind), 'pending')
      assert.deepEqual(publishedKeys(kafka), ['orders/2'])
    } finally {
      await relay.stop()
    }
  })

  test('a park that fails does not fail the batch: the row stays pending, its key waits, the rest is published', async () => {
    const { relay, store, kafka, lines } = fakeRelay()
    const poison = row('1', { type: Poison.type, topic: 'poison' })
    const behind = row('1', { type: Poison.type, topic: 'poison' })
    const other = row('2')
    store.add(poison, behind, other)
    store.parkFailures.add(poison.id)
    await relay.start()
    try {
      await until('other key sent', () => store.statusOf(other) === 'sent')
      assert.equal(store.statusOf(poison), 'pending')
      assert.equal(store.statusOf(behind), 'pending')
      assert.deepEqual(publishedKeys(kafka), ['orders/2'])
      assert.ok(lines.some((l) => l.message.startsWith('could not park')))
      assert.equal(relay.health().ready, true)
    } finally {
      await relay.stop()
    }
  })

  test('an authorization error parks nothing: /readyz reports it, the relay logs once, then recovers', async () => {
    const { relay, store, kafka, lines } = fakeRelay()
    const rows = [row('1'), row('2')]
    store.add(...rows)
    const denied = new UnavailableError('kafka', 'publishing failed (TOPIC_AUTHORIZATION_FAILED)')
    await relay.start()
    try {
      await until('rows sent', () => rows.every((r) => store.statusOf(r) === 'sent'))
      kafka.outage = denied
      const more = [row('3'), row('4')]
      store.add(...more)
      const before = kafka.attempts
      await until('three retries', () => kafka.attempts >= before + 4)
      const health = relay.health()
      assert.equal(health.ready, false)
      assert.match(health.reason ?? '', /TOPIC_AUTHORIZATION_FAILED/)
      assert.deepEqual(
        more.map((r) => store.statusOf(r)),
        ['pending', 'pending'],
        'nothing parked',
      )
      const warnings = lines.filter((l) => l.level === 'warn' || l.level === 'error')
      assert.equal(warnings.length, 1, 'one log line for the whole outage, not one per retry')

      kafka.outage = null
      await until('recovered', () => more.every((r) => store.statusOf(r) === 'sent'))
      await until('ready', () => relay.health().ready)
      assert.equal(lines.filter((l) => l.message.startsWith('recovered')).length, 1)
    } finally {
      await relay.stop()
    }
  })

  test('a NOTIFY wakes an idle relay long before its next poll', async () => {
    const { relay, store, db } = fakeRelay({
      listen: true,
      pollIntervalMs: 600_000,
      minPollIntervalMs: 600_000,
    })
    await relay.start()
    try {
      await until('idle', () => relay.health().ready)
      await new Promise((resolve) => setTimeout(resolve, 50))
      const late = row('9')
      store.add(late)
      db.notify()
      await until('woken and sent', () => store.statusOf(late) === 'sent')
    } finally {
      await relay.stop()
    }
  })

  test('stop releases the leases and closes the database', async () => {
    const { relay, store, db } = fakeRelay()
    await relay.start()
    await until('shards held', () => relay.health().shards.length === 2)
    await relay.stop()
    assert.equal(db.closed, true)
    assert.ok([...store.leaseTable.shards.values()].every((s) => s.owner === null))
    assert.equal(relay.health().running, false)
  })
})
