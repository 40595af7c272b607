import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { context, SpanKind, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import knexFactory, { type Knex } from 'knex'
import type { PublishedEvent } from '../../src/testing.js'
import { type OrderRow, orderEvent } from '../support/events.js'
import { outboxFor, readTopic, startRelay } from '../support/relay.js'
import { createMigratedDatabase, queryRows, uniqueName, waitFor } from '../support/stack.js'

// The application's OpenTelemetry SDK, as a service would register it, exporting to memory.
const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
const application = trace.getTracer('orders-service')

const order = (id: number): OrderRow => ({ id, customer: `c${id}`, total_cents: id, status: 'new' })

const traceparentOf = (span: ReadableSpan) =>
  `00-${span.spanContext().traceId}-${span.spanContext().spanId}-${span.spanContext().traceFlags.toString(16).padStart(2, '0')}`

describe('OpenTelemetry: one trace from the application through enqueue to the Kafka publish', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let knex: Knex

  before(async () => {
    trace.setGlobalTracerProvider(provider)
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
    db = await createMigratedDatabase('pbtrace')
    knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 4 } })
  })
  after(async () => {
    await knex.destroy()
    await db.drop()
    trace.disable()
    context.disable()
    await provider.shutdown()
  })

  /** The exported publish spans of `topic`, once there are `count`. */
  const publishSpans = (topic: string, count: number) =>
    waitFor(`${count} publish spans of ${topic}`, async () => {
      const spans = exporter.getFinishedSpans().filter((s) => s.name === `send ${topic}`)
      return spans.length >= count ? spans : undefined
    })

  const published = (topic: string, count: number) =>
    waitFor(`${count} records in ${topic}`, async () => {
      const records = await readTopic(topic)
      return records.length >= count ? records : undefined
    })

  /** The span whose context the record carries in its traceparent header. */
  const spanOf = (record: PublishedEvent, spans: readonly ReadableSpan[]) => {
    const span = spans.find((s) => traceparentOf(s) === record.headers.traceparent)
    assert.ok(span, `a publish span for the record at offset ${record.offset}`)
    return span
  }

  test('a row enqueued inside an application span is published under a producer span of the same trace, whose context the record carries', async () => {
    const topic = uniqueName('trace.orders')
    const Placed = orderEvent(topic)
    const outbox = outboxFor([Placed])
    const placing = await application.startActiveSpan('place order', async (span) => {
      try {
        const { eventId } = await knex.transaction((trx) => outbox.enqueue(trx, Placed, order(7)))
        return { eventId, span }
      } finally {
        span.end()
      }
    })
    const [stored] = await queryRows<{ headers: Record<string, string> }>(
      db.url,
      'select headers from postbox.outbox where event_id = $1',
      [placing.eventId],
    )
    const applicationSpan = exporter.getFinishedSpans().find((s) => s.name === 'place order')
    assert.ok(applicationSpan)
    assert.equal(
      stored?.headers.traceparent,
      traceparentOf(applicationSpan),
      'enqueue stored the active span',
    )

    const relay = await startRelay(db.url, [Placed])
    try {
      const [record] = await published(topic, 1)
      const [send] = await publishSpans(topic, 1)
      assert.ok(record && send)
      assert.equal(send.spanContext().traceId, applicationSpan.spanContext().traceId, 'one trace')
      assert.equal(send.parentSpanContext?.spanId, applicationSpan.spanContext().spanId)
      assert.equal(send.kind, SpanKind.PRODUCER)
      assert.deepEqual(send.attributes, {
        'messaging.system': 'kafka',
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'send',
        'messaging.destination.name': topic,
        'messaging.destination.partition.id': String(record.partition),
        'messaging.message.id': placing.eventId,
        'kafka.message.key': '7',
        'kafka.offset': Number(record.offset),
      })
      assert.equal(
        record.headers.traceparent,
        traceparentOf(send),
        'consumers continue from the publish span',
      )
      assert.equal(record.headers['event-id'], placing.eventId)
    } finally {
      await relay.stop()
    }
  })

  test('each publish span of a batch over several partitions names the partition and offset its record landed at', async () => {
    const topic = uniqueName('trace.batch')
    const Placed = orderEvent(topic)
    const outbox = outboxFor([Placed])
    await application.startActiveSpan('import orders', async (span) => {
      await knex.transaction((trx) =>
        outbox.enqueueMany(
          trx,
          Placed,
          Array.from({ length: 12 }, (_, i) => order(i)),
        ),
      )
      span.end()
    })
    const relay = await startRelay(db.url, [Placed])
    try {
      const records = await published(topic, 12)
      const spans = await publishSpans(topic, 12)
      assert.ok(new Set(records.map((r) => r.partition)).size > 1, 'the keys spread over partitions')
      for (const record of records) {
        const span = spanOf(record, spans)
        assert.equal(span.attributes['messaging.destination.partition.id'], String(record.partition))
        assert.equal(span.attributes['kafka.offset'], Number(record.offset))
        assert.equal(span.attributes['kafka.message.key'], record.key)
      }
    } finally {
      await relay.stop()
    }
  })

  test('a tombstone enqueued outside any span starts a trace of its own at the publish, marked as a tombstone', async () => {
    const topic = uniqueName('trace.tombstone')
    const Placed = orderEvent(topic)
    const outbox = outboxFor([Placed])
    const { eventId } = await knex.transaction((trx) => outbox.tombstone(trx, Placed, '9'))
    const [stored] = await queryRows<{ headers: Record<string, string> }>(
      db.url,
      'select headers from postbox.outbox where event_id = $1',
      [eventId],
    )
    assert.equal(stored?.headers.traceparent, undefined, 'no active span, no stored trace context')
    const relay = await startRelay(db.url, [Placed])
    try {
      const [record] = await published(topic, 1)
      const [send] = await publishSpans(topic, 1)
      assert.ok(record && send)
      assert.equal(send.parentSpanContext, undefined, 'a root span')
      assert.equal(send.attributes['kafka.message.tombstone'], true)
      assert.equal(record.value, null)
      assert.equal(record.headers.traceparent, traceparentOf(send))
    } finally {
      await relay.stop()
    }
  })

  test('an explicit traceparent wins over the active span, and the publish span is its child', async () => {
    const topic = uniqueName('trace.explicit')
    const Placed = orderEvent(topic)
    const outbox = outboxFor([Placed])
    const given = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
    await application.startActiveSpan('handle message', async (span) => {
      await knex.transaction((trx) => outbox.enqueue(trx, Placed, order(3), { traceparent: given }))
      span.end()
    })
    const relay = await startRelay(db.url, [Placed])
    try {
      const [record] = await published(topic, 1)
      const [send] = await publishSpans(topic, 1)
      assert.ok(record && send)
      assert.equal(send.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c')
      assert.equal(send.parentSpanContext?.spanId, 'b7ad6b7169203331')
      assert.equal(record.headers.traceparent, traceparentOf(send))
    } finally {
      await relay.stop()
    }
  })

  test("with delivery 'exactly-once' the publish spans end once the Kafka transaction committed, with the records' offsets", async () => {
    const topic = uniqueName('trace.eos')
    const Placed = orderEvent(topic)
    const outbox = outboxFor([Placed])
    const applicationSpan = await application.startActiveSpan('place orders', async (span) => {
      await knex.transaction((trx) =>
        outbox.enqueueMany(
          trx,
          Placed,
          Array.from({ length: 6 }, (_, i) => order(i)),
        ),
      )
      span.end()
      return span
    })
    const relay = await startRelay(db.url, [Placed], { delivery: 'exactly-once' })
    try {
      const records = await published(topic, 6)
      const spans = await publishSpans(topic, 6)
      for (const record of records) {
        const span = spanOf(record, spans)
        assert.equal(span.spanContext().traceId, applicationSpan.spanContext().traceId)
        assert.equal(span.attributes['messaging.destination.partition.id'], String(record.partition))
        assert.equal(span.attributes['kafka.offset'], Number(record.offset))
      }
    } finally {
      await relay.stop()
    }
  })
})
