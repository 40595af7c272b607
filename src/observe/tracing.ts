import { createRequire } from 'node:module'
import type * as OpenTelemetry from '@opentelemetry/api'
import type { Delivery, OutgoingMessage } from '../kafka/ports.js'

/**
 * OpenTelemetry through @opentelemetry/api, an optional peer dependency; this is the only module
 * that uses it. It is required on first use instead of imported, so importing "postbox" loads
 * nothing more, and without the package installed nothing is traced: enqueue stores only the
 * traceparent it is given and the relay passes stored traceparent headers through unchanged.
 * The API is a no-op until the application registers an SDK (a global tracer provider).
 */
type Api = typeof OpenTelemetry

const requireOptional = createRequire(import.meta.url)
let api: Api | null | undefined

function openTelemetry(): Api | null {
  if (api === undefined) {
    try {
      api = requireOptional('@opentelemetry/api') as Api
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'MODULE_NOT_FOUND') throw error
      api = null
    }
  }
  return api
}

/** W3C trace context: version, trace id, parent id, flags (later versions may append fields). */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-|$)/

function toTraceparent(span: OpenTelemetry.SpanContext): string {
  return `00-${span.traceId}-${span.spanId}-${(span.traceFlags & 0xff).toString(16).padStart(2, '0')}`
}

function parentContext(otel: Api, traceparent: string | undefined): OpenTelemetry.Context {
  const match = traceparent === undefined ? null : TRACEPARENT.exec(traceparent)
  const [, version, traceId, spanId, flags] = match ?? []
  if (version === undefined || version === 'ff' || traceId === undefined || spanId === undefined) {
    return otel.ROOT_CONTEXT
  }
  const parent = { traceId, spanId, traceFlags: Number.parseInt(flags ?? '0', 16), isRemote: true }
  return otel.isSpanContextValid(parent)
    ? otel.trace.setSpanContext(otel.ROOT_CONTEXT, parent)
    : otel.ROOT_CONTEXT
}

/** The active span's context as a W3C traceparent, sampled or not; undefined without a valid one. */
export function activeTraceparent(): string | undefined {
  const otel = openTelemetry()
  if (otel === null) return undefined
  const span = otel.trace.getSpanContext(otel.context.active())
  return span !== undefined && otel.isSpanContextValid(span) ? toTraceparent(span) : undefined
}

/** A record about to be published, and the outbox row it comes from. */
export interface OutgoingRecord {
  message: OutgoingMessage
  row: { key: string; event_id: string }
}

function errorType(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string') return code
  return error instanceof Error ? error.name : 'unknown'
}

/**
 * Publishes `records` with `send`, each under a PRODUCER span "send <topic>" that follows the
 * OpenTelemetry messaging conventions for Kafka. A span is a child of the trace in the row's
 * stored traceparent (a new trace without one), and the record carries the span's own context in
 * its traceparent header, so consumers continue the trace. The header must be set before sending,
 * so spans start before the send and end at the acknowledgement, with partition and offset.
 */
export async function sendTraced(
  records: readonly OutgoingRecord[],
  send: (messages: readonly OutgoingMessage[]) => Promise<Delivery[]>,
): Promise<Delivery[]> {
  const otel = openTelemetry()
  if (otel === null) return send(records.map((r) => r.message))
  const tracer = otel.trace.getTracer('postbox')
  const spans: OpenTelemetry.Span[] = []
  const messages = records.map(({ message, row }) => {
    const attributes: OpenTelemetry.Attributes = {
      'messaging.system': 'kafka',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': message.topic,
      'messaging.message.id': row.event_id,
      'kafka.message.key': row.key,
    }
    if (message.value === null) attributes['kafka.message.tombstone'] = true
    const span = tracer.startSpan(
      `send ${message.topic}`,
      { kind: otel.SpanKind.PRODUCER, attributes },
      parentContext(otel, message.headers.traceparent),
    )
    spans.push(span)
    const context = span.spanContext()
    if (!otel.isSpanContextValid(context)) return message
    return { ...message, headers: { ...message.headers, traceparent: toTraceparent(context) } }
  })

  let deliveries: Delivery[]
  try {
    deliveries = await send(messages)
  } catch (error) {
    for (const span of spans) {
      span.setAttribute('error.type', errorType(error))
      span.setStatus({
        code: otel.SpanStatusCode.ERROR,
        message: error instanceof Error ? error.message : String(error),
      })
      span.end()
    }
    throw error
  }
  spans.forEach((span, i) => {
    const delivery = deliveries[i]
    if (delivery !== undefined && delivery.partition >= 0) {
      span.setAttribute('messaging.destination.partition.id', String(delivery.partition))
      const offset = Number(delivery.offset)
      if (Number.isSafeInteger(offset) && offset >= 0) span.setAttribute('kafka.offset', offset)
    }
    span.end()
  })
  return deliveries
}
