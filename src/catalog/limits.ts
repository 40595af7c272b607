import { ValidationError } from '../errors.js'
import { activeTraceparent } from '../observe/tracing.js'
import type { AnyEventDefinition } from './define-event.js'
import { isStorableText } from './map-event.js'

/** Largest stored key (UTF-8 bytes): a key is compared, hashed and held in memory per row. */
export const MAX_KEY_BYTES = 1024
/** Default largest stored internal snapshot (UTF-8 bytes of its JSON), so a claimed batch stays bounded. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1_048_576
/** Largest total of an event's own headers (names and values, UTF-8 bytes, traceparent included). */
export const MAX_HEADER_BYTES = 16_384

/**
 * Headers the relay sets itself (or a replay does), compared without case: an event's own
 * headers cannot override or imitate them. `traceparent` comes only from the traceparent option,
 * which checks its format.
 */
export const RESERVED_HEADERS: readonly string[] = Object.freeze([
  'event-id',
  'event-type',
  'outbox-id',
  'created-at',
  'content-type',
  'replay-of',
  'traceparent',
])

export interface HeaderOptions {
  traceparent?: string | undefined
  headers?: Record<string, string> | undefined
}

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/

export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8')
}

/** An event's own headers, checked: strings Postgres can store, no reserved name, bounded in size. */
export function eventHeaders(
  event: AnyEventDefinition,
  options: HeaderOptions | undefined,
): Record<string, string> {
  const given: unknown = options?.headers ?? {}
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw new ValidationError(event.type, '(headers)', 'headers must be an object of header names to strings')
  }
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(given)) {
    if (typeof value !== 'string' || !isStorableText(name) || !isStorableText(value)) {
      throw new ValidationError(
        event.type,
        `(headers).${name}`,
        `header "${name}" must be a string without NUL`,
      )
    }
    if (RESERVED_HEADERS.includes(name.toLowerCase())) {
      throw new ValidationError(
        event.type,
        `(headers).${name}`,
        `header "${name}" is reserved (${RESERVED_HEADERS.join(', ')}); pass a trace context as the traceparent option`,
      )
    }
    headers[name] = value
  }
  if (options?.traceparent !== undefined) {
    if (!TRACEPARENT.test(options.traceparent)) {
      throw new ValidationError(event.type, '(traceparent)', 'traceparent is not a W3C trace context header')
    }
    headers.traceparent = options.traceparent
  } else {
    // With @opentelemetry/api installed, the active span's context links the event to its request.
    const active = activeTraceparent()
    if (active !== undefined) headers.traceparent = active
  }
  const bytes = headerBytes(headers)
  if (bytes > MAX_HEADER_BYTES) {
    throw new ValidationError(
      event.type,
      '(headers)',
      `the headers are ${bytes} bytes, over the limit of ${MAX_HEADER_BYTES}`,
    )
  }
  return headers
}

export function headerBytes(headers: Readonly<Record<string, string>>): number {
  let bytes = 0
  for (const [name, value] of Object.entries(headers)) bytes += utf8Bytes(name) + utf8Bytes(value)
  return bytes
}

/** A stored key longer than MAX_KEY_BYTES is refused. */
export function checkKeyBytes(event: AnyEventDefinition, stored: string): string {
  const bytes = utf8Bytes(stored)
  if (bytes > MAX_KEY_BYTES) {
    throw new ValidationError(
      event.type,
      '(key)',
      `the key is ${bytes} bytes, over the limit of ${MAX_KEY_BYTES}`,
    )
  }
  return stored
}

export function checkPayloadBytes(event: AnyEventDefinition, bytes: number, maxPayloadBytes: number): void {
  if (bytes > maxPayloadBytes) {
    throw new ValidationError(
      event.type,
      '(size)',
      `the stored snapshot is ${bytes} bytes of JSON, over maxPayloadBytes ${maxPayloadBytes}`,
    )
  }
}

/** The Kafka record as the relay will build it: encoded value, key and the event's own headers. */
export function checkMessageBytes(
  event: AnyEventDefinition,
  parts: { value: number; key: number; headers: number },
  maxMessageBytes: number,
): void {
  const total = parts.value + parts.key + parts.headers
  if (total > maxMessageBytes) {
    throw new ValidationError(
      event.type,
      '(size)',
      `the record is ${total} bytes (value ${parts.value}, key ${parts.key}, headers ${parts.headers}), over maxMessageBytes ${maxMessageBytes}`,
    )
  }
}
