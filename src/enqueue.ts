import { type Catalog, createCatalog } from './catalog/catalog.js'
import type { AnyEventDefinition, EventDefinition } from './catalog/define-event.js'
import {
  checkKey,
  isStorableText,
  keyOf,
  mapToExternal,
  storedKey,
  toStoredSnapshot,
} from './catalog/map-event.js'
import type { EventKey } from './catalog/types.js'
import { executorFor, type SqlClient } from './db/executor.js'
import { quoteIdentifier } from './db/identifier.js'
import { type NewOutboxRow, outboxQueries } from './db/outbox-queries.js'
import { ValidationError } from './errors.js'
import { newEventId } from './event-id.js'
import { activeTraceparent } from './observe/tracing.js'

export interface OutboxOptions {
  // biome-ignore lint/suspicious/noExplicitAny: events of any row type share one catalog
  events: readonly EventDefinition<any, unknown, any>[]
  /** Postgres schema holding the outbox (default "postbox"). */
  schema?: string
  /** NOTIFY the relay on commit (default true). Switch off under very heavy write load. */
  notify?: boolean
  /** Largest encoded value accepted (default 1 000 000 bytes, the relay's default limit). */
  maxMessageBytes?: number
}

export interface EnqueueOptions {
  /** W3C trace context of the request (default: the active OpenTelemetry span's), stored as a header. */
  traceparent?: string
  /** Extra string headers to publish with the event. */
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

export function notifyChannel(schema: string): string {
  return `postbox_${schema}`
}

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/

function headersFor(event: AnyEventDefinition, options: EnqueueOptions | undefined): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(options?.headers ?? {})) {
    if (typeof value !== 'string' || !isStorableText(name) || !isStorableText(value)) {
      throw new ValidationError(
        event.type,
        `(headers).${name}`,
        `header "${name}" must be a string without NUL`,
      )
    }
    headers[name] = value
  }
  if (options?.traceparent !== undefined) {
    if (!TRACEPARENT.test(options.traceparent)) {
      throw new ValidationError(event.type, '(traceparent)', 'traceparent is not a W3C trace context header')
    }
    headers.traceparent = options.traceparent
  } else if (headers.traceparent === undefined) {
    // With @opentelemetry/api installed, the active span's context links the event to its request.
    const active = activeTraceparent()
    if (active !== undefined) headers.traceparent = active
  }
  return headers
}

/**
 * The write side. It never opens a connection and never calls the registry: it validates
 * locally and inserts with the caller's own connection, so the caller's transaction decides.
 */
export function createOutbox(options: OutboxOptions): Outbox {
  const schema = options.schema ?? 'postbox'
  quoteIdentifier(schema)
  const catalog = createCatalog(options.events as readonly AnyEventDefinition[])
  const queries = outboxQueries(schema)
  const channel = options.notify === false ? null : notifyChannel(schema)
  const maxMessageBytes = options.maxMessageBytes ?? 1_000_000

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

  const upsertRow = (
    event: AnyEventDefinition,
    row: unknown,
    options: EnqueueOptions | undefined,
  ): NewOutboxRow => {
    const snapshot = toStoredSnapshot(event, row)
    const size = event.valueCodec.encode(mapToExternal(event, snapshot)).length + 5
    if (size > maxMessageBytes) {
      throw new ValidationError(
        event.type,
        '(size)',
        `the encoded record is ${size} bytes, over ${maxMessageBytes}`,
      )
    }
    return {
      event_id: newEventId(),
      event_type: event.type,
      topic: event.topic,
      key: storedKey(keyOf(event, snapshot)),
      payload: snapshot,
      headers: headersFor(event, options),
    }
  }

  const insert = async (db: SqlClient, rows: NewOutboxRow[]): Promise<EnqueueResult[]> => {
    if (rows.length === 0) return []
    const ids = await queries.insertOutboxRows(executorFor(db), rows, channel)
    return ids.map((id, i) => ({ id, eventId: rows[i]?.event_id ?? '' }))
  }

  const outbox: Outbox = {
    catalog,
    schema,
    async enqueue(db, event, row, opts) {
      const [result] = await insert(db, [upsertRow(known(event), row, opts)])
      return result as EnqueueResult
    },
    async enqueueMany(db, event, rows, opts) {
      const definition = known(event)
      if (!Array.isArray(rows))
        throw new ValidationError(definition.type, '(rows)', 'enqueueMany takes an array')
      return insert(
        db,
        rows.map((row) => upsertRow(definition, row, opts)),
      )
    },
    async tombstone(db, event, key, opts) {
      const definition = known(event as AnyEventDefinition)
      const [result] = await insert(db, [
        {
          event_id: newEventId(),
          event_type: definition.type,
          topic: definition.topic,
          key: storedKey(checkKey(definition, key)),
          payload: null,
          headers: headersFor(definition, opts),
        },
      ])
      return result as EnqueueResult
    },
  }
  return Object.freeze(outbox)
}
