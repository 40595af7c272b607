import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, test } from 'node:test'
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { UnavailableError } from '../../src/errors.js'
import type { OutgoingMessage } from '../../src/kafka/ports.js'
import { activeTraceparent, type OutgoingRecord, sendTraced } from '../../src/observe/tracing.js'

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })

const TRACE = '0af7651916cd43dd8448eb211c80319c'
const PARENT = 'b7ad6b7169203331'

function record(key: string, headers: Record<string, string> = {}): OutgoingRecord {
  return {
    row: { key, event_id: `event-${key}` },
    message: { topic: 'orders.v1', key: Buffer.from(key), value: Buffer.from('v'), headers },
  }
}

describe('trace context on the write path and at the publish', () => {
  before(() => {
    trace.setGlobalTracerProvider(provider)
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  })
  after(async () => {
    trace.disable()
    context.disable()
    await provider.shutdown()
  })
  beforeEach(() => exporter.reset())

  test('outside any span there is no trace context to store', () => {
    assert.equal(activeTraceparent(), undefined)
  })

  test("the active span's context is stored as a W3C traceparent, sampled or not", () => {
    for (const traceFlags of [1, 0]) {
      const active = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE, spanId: PARENT, traceFlags })
      assert.equal(context.with(active, activeTraceparent), `00-${TRACE}-${PARENT}-0${traceFlags}`)
    }
  })

  test('an invalid active span context (all-zero ids) is not stored', () => {
    const invalid = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '0'.repeat(32),
      spanId: '0'.repeat(16),
      traceFlags: 1,
    })
    assert.equal(context.with(invalid, activeTraceparent), undefined)
  })

  test("each record is sent under a producer span that is a child of its stored traceparent, and carries that span's context", async () => {
    const stored = record('7', { traceparent: `00-${TRACE}-${PARENT}-01`, 'event-type': 'order.placed' })
    const sent: OutgoingMessage[] = []
    await sendTraced([stored], async (messages) => {
      sent.push(...messages)
      return [{ partition: 2, offset: '41' }]
    })
    const [span] = exporter.getFinishedSpans()
    assert.ok(span)
    assert.equal(span.name, 'send orders.v1')
    assert.equal(span.kind, SpanKind.PRODUCER)
    assert.equal(span.spanContext().traceId, TRACE)
    assert.equal(span.parentSpanContext?.spanId, PARENT)
    assert.equal(span.attributes['messaging.destination.partition.id'], '2')
    assert.equal(span.attributes['kafka.offset'], 41)
    assert.equal(span.attributes['kafka.message.key'], '7')
    assert.equal(sent[0]?.headers.traceparent, `00-${TRACE}-${span.spanContext().spanId}-01`)
    assert.equal(sent[0]?.headers['event-type'], 'order.placed')
    assert.equal(
      stored.message.headers.traceparent,
      `00-${TRACE}-${PARENT}-01`,
      'a retry starts from the row again',
    )
  })

  test('a record without a usable traceparent starts a trace of its own', async () => {
    await sendTraced([record('1'), record('2', { traceparent: 'not-a-trace' })], async (messages) =>
      messages.map((_, i) => ({ partition: 0, offset: String(i) })),
    )
    const spans = exporter.getFinishedSpans()
    assert.equal(spans.length, 2)
    for (const span of spans) assert.equal(span.parentSpanContext, undefined)
    assert.notEqual(spans[0]?.spanContext().traceId, spans[1]?.spanContext().traceId)
  })

  test('a failed send ends every span of the batch as an error naming the failure, and rethrows it', async () => {
    const failure = new UnavailableError('kafka', 'the broker is down')
    await assert.rejects(
      sendTraced([record('1'), record('2')], async () => {
        throw failure
      }),
      failure,
    )
    const spans = exporter.getFinishedSpans()
    assert.equal(spans.length, 2)
    for (const span of spans) {
      assert.equal(span.status.code, SpanStatusCode.ERROR)
      assert.equal(span.attributes['error.type'], failure.code)
      assert.equal(span.attributes['kafka.offset'], undefined)
    }
  })
})
