import { type Catalog, createCatalog } from './catalog/catalog.js'
import type { AnyEventDefinition, EventDefinition } from './catalog/define-event.js'
import {
  checkKeyBytes,
  checkMessageBytes,
  checkPayloadBytes,
  DEFAULT_MAX_PAYLOAD_BYTES,
  eventHeaders,
  headerBytes,
  utf8Bytes,
} from './catalog/limits.js'
import { checkKey, keyOf, mapToExternal, storedKey, toStoredJson } from './catalog/map-event.js'
import type { EventKey } from './catalog/types.js'
import { type SqlClient, type SqlExecutor, transactionExecutorFor } from './db/executor.js'
import { quoteIdentifier } from './db/identifier.js'
import { notifyChannel } from './db/notify.js'
import { type NewOutboxRow, outboxQueries } from './db/outbox-queries.js'
import { DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_SCHEMA } from './defaults.js'
import { ConfigError, ValidationError } from './errors.js'
import { newEventId } from './event-id.js'

export interface OutboxOptions {
  // biome-ignore lint/suspicious/noExplicitAny: events of any row type share one catalog
  events: readonly EventDefinition<any, unknown, any>[]
  /** Postgres schema holding the outbox (default "postbox"). */
  schema?: string
  /** NOTIFY the relay on commit (default true). Switch off under very heavy write load. */
  notify?: boolean
  /**
   * Largest Kafka record accepted: encoded value, key and the event's own headers together
   * (default 1 000 000 bytes, the relay's default limit).
   */
  maxMessageBytes?: number
  /** Largest internal snapshot accepted, in UTF-8 bytes of its stored JSON (default 1 MiB). */
  maxPayloadBytes?: number
}

export interface EnqueueOptions {
  /** W3C trace context of the request (default: the active OpenTelemetry span's), stored as a header. */
  traceparent?: string
  /**
   * Extra string headers to publish with the event: at most 16 KiB together with traceparent,
   * and none of the names the relay sets (event-id, event-type, outbox-id, created-at,
   * content-type, replay-of, traceparent).
   */
  headers?: Record<string, string>
}

export interface EnqueueResult {
  /** Outbox row id (bigint as string). */
  id: string
  eventId: string
}

export interface Outbox {
  readonly catalog: Catalog
  readonly schema: string
  /** Writes one keyed upsert event inside the caller's transaction. */
  enqueue<T>(
    db: SqlClient,
    event: EventDefinition<T, unknown, EventKey>,
    row: T,
    options?: EnqueueOptions,
  ): Promise<EnqueueResult>
  /** Writes many events of one type in one statement inside the caller's transaction. */
  enqueueMany<T>(
    db: SqlClient,
    event: EventDefinition<T, unknown, EventKey>,
    rows: readonly T[],
    options?: EnqueueOptions,
  ): Promise<EnqueueResult[]>
  /** Writes a tombstone: a null value for `key`, so a compacted topic forgets it. */
  tombstone<K extends EventKey>(
    db: SqlClient,
    event: EventDefinition<never, unknown, K> | EventDefinition<never, unknown, EventKey>,
    key: K | string,
    options?: EnqueueOptions,
  ): Promise<EnqueueResult>
}

function byteLimit(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ConfigError(
      `createOutbox: ${name} must be a positive whole number of bytes, got ${String(value)}`,
    )
  }
  return value
}

/**
 * The write side. It never opens a connection and never calls the registry: it validates
 * locally and inserts with the caller's own connection, so the caller's transaction decides.
 */
export function createOutbox(options: OutboxOptions): Outbox {
  const schema = options.schema ?? DEFAULT_SCHEMA
  quoteIdentifier(schema)
  const catalog = createCatalog(options.events as readonly AnyEventDefinition[])
  const queries = outboxQueries(schema)
  const channel = options.notify === false ? null : notifyChannel(schema)
  const maxMessageBytes = byteLimit('maxMessageBytes', options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES)
  const maxPayloadBytes = byteLimit('maxPayloadBytes', options.maxPayloadBytes, DEFAULT_MAX_PAYLOAD_BYTES)

  const known = (event: AnyEventDefinition): AnyEventDefinition => {
    const registered = catalog.get(event?.type)
    if (registered !== event) {
      throw new ValidationError(
        String(event?.type),
        '(event)',
        'this event definition is not the one in the catalog',
      )
    }
    return registered
  }

  /** A checked row; `value` is the encoded value's size, 0 for a tombstone. */
  const outboxRow = (
    event: AnyEventDefinition,
    key: EventKey,
    payload: unknown,
    value: number,
    options: EnqueueOptions | undefined,
  ): NewOutboxRow => {
    const stored = checkKeyBytes(event, storedKey(key))
    const headers = eventHeaders(event, options)
    const keyBytes = event.keyCodec === undefined ? utf8Bytes(stored) : event.keyCodec.encode(key).length + 5
    checkMessageBytes(event, { value, key: keyBytes, headers: headerBytes(headers) }, maxMessageBytes)
    return {
      event_id: newEventId(),
      event_type: event.type,
      topic: event.topic,
      key: stored,
      payload,
      headers,
    }
  }

  const upsertRow = (event: AnyEventDefinition, row: unknown, options: EnqueueOptions | undefined) => {
    const { snapshot, bytes } = toStoredJson(event, row)
    checkPayloadBytes(event, bytes, maxPayloadBytes)
    const value = event.valueCodec.encode(mapToExternal(event, snapshot)).length + 5
    return outboxRow(event, keyOf(event, snapshot), snapshot, value, options)
  }

  const insert = async (db: SqlExecutor, rows: NewOutboxRow[]): Promise<EnqueueResult[]> => {
    const [first] = rows
    if (first === undefined) return []
    const ids =
      rows.length === 1
        ? [await queries.insertOutboxRow(db, first, channel)]
        : await queries.insertOutboxRows(db, rows, channel)
    return ids.map((id, i) => ({ id, eventId: rows[i]?.event_id ?? '' }))
  }

  const outbox: Outbox = {
    catalog,
    schema,
    async enqueue(db, event, row, opts) {
      const executor = transactionExecutorFor(db)
      const [result] = await insert(executor, [upsertRow(known(event), row, opts)])
      return result as EnqueueResult
    },
    async enqueueMany(db, event, rows, opts) {
      const executor = transactionExecutorFor(db)
      const definition = known(event)
      if (!Array.isArray(rows))
        throw new ValidationError(definition.type, '(rows)', 'enqueueMany takes an array')
      return insert(
        executor,
        rows.map((row) => upsertRow(definition, row, opts)),
      )
    },
    async tombstone(db, event, key, opts) {
      const executor = transactionExecutorFor(db)
      const definition = known(event as AnyEventDefinition)
      const [result] = await insert(executor, [
        outboxRow(definition, checkKey(definition, key), null, 0, opts),
      ])
      return result as EnqueueResult
    },
  }
  return Object.freeze(outbox)
}
