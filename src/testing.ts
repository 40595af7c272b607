import { type KafkaSecuritySettings, resolveKafkaSecurity } from './connect/kafka-security.js'
import { type RegistrySettings, resolveRegistryConnection } from './connect/registry-auth.js'
import { executorFor, type SqlClient } from './db/executor.js'
import { transactionQueries } from './db/transaction-queries.js'
import { DEFAULT_SCHEMA } from './defaults.js'
import { kafkaClient } from './kafka/client.js'
import { silentLogger } from './observe/logger.js'
import { unframe } from './schema/codec.js'
import { createRegistryClient } from './schema/registry.js'

export interface PublishedEvent {
  partition: number
  offset: string
  /** The key as a string (Avro keys decoded through the registry). */
  key: string | unknown
  /** The decoded external record as a plain object, or null for a tombstone. */
  value: unknown
  /** Schema id carried in the value's wire-format frame. */
  schemaId: number | null
  headers: Record<string, string>
}

/** Where to read from: brokers and registry URL, plus Kafka TLS/SASL and registry credentials when needed. */
export interface PublishedConnection extends KafkaSecuritySettings {
  brokers: readonly string[]
  registryUrl: string
  registry?: Omit<RegistrySettings, 'url'>
}

/** Avro records decode as instances of generated classes; plain objects compare with deepStrictEqual. */
function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain)
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value) || value instanceof Date)
    return value
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]))
}

/**
 * Reads everything published to a topic so far and decodes it through the schema registry,
 * as an independent consumer would. Meant for an application's own tests.
 */
export async function readPublished(
  connection: PublishedConnection,
  topic: string,
  options: { timeoutMs?: number; avroKey?: boolean } = {},
): Promise<PublishedEvent[]> {
  const kafka = kafkaClient(
    connection.brokers,
    'postbox-testing',
    silentLogger,
    resolveKafkaSecurity(connection),
  )
  const registry = createRegistryClient(
    resolveRegistryConnection({ ...connection.registry, url: connection.registryUrl }),
  )
  const records = await kafka.readTopic(topic, { timeoutMs: options.timeoutMs })
  const out: PublishedEvent[] = []
  for (const r of records) {
    const key =
      r.key === null
        ? null
        : options.avroKey === true
          ? plain(await registry.decode(r.key))
          : r.key.toString('utf8')
    out.push({
      partition: r.partition,
      offset: r.offset,
      key,
      value: r.value === null ? null : plain(await registry.decode(r.value)),
      schemaId: r.value === null ? null : unframe(r.value).schemaId,
      headers: r.headers,
    })
  }
  return out
}

export interface WaitForPublishedOptions {
  /** How many (matching) events to wait for (default 1). */
  count?: number
  /** Only events for which this returns true count and are returned. */
  where?: (event: PublishedEvent) => boolean
  /** Give up after this long (default 30 000 ms). */
  timeoutMs?: number
  avroKey?: boolean
}

/**
 * Waits until a topic holds at least `count` (matching) events and returns them all, decoded.
 * For tests that run a relay and then assert on what consumers will see.
 */
export async function waitForPublished(
  connection: PublishedConnection,
  topic: string,
  options: WaitForPublishedOptions = {},
): Promise<PublishedEvent[]> {
  const count = options.count ?? 1
  const timeoutMs = options.timeoutMs ?? 30_000
  const deadline = Date.now() + timeoutMs
  let seen = 0
  let lastError: unknown = null
  for (;;) {
    try {
      const events = await readPublished(connection, topic, {
        avroKey: options.avroKey,
        timeoutMs: Math.max(1000, deadline - Date.now()),
      })
      const matching = options.where === undefined ? events : events.filter(options.where)
      if (matching.length >= count) return matching
      seen = matching.length
      lastError = null
    } catch (error) {
      // The topic may not exist until the relay creates it.
      lastError = error
    }
    if (Date.now() >= deadline) {
      const why = lastError === null ? '' : ` (last error: ${String(lastError)})`
      throw new Error(
        `waited ${timeoutMs} ms for ${count} event(s) on ${topic}, saw ${seen}${why}: is a relay running?`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** An outbox row as the transaction wrote it (the internal snapshot, before any mapping). */
export interface OutboxRowWritten {
  /** Outbox row id (bigint as string). */
  id: string
  eventId: string
  eventType: string
  topic: string
  key: string
  /** The stored internal snapshot, or null for a tombstone. */
  payload: unknown
  headers: Record<string, string>
  createdAt: Date
}

/**
 * The outbox rows the caller's open transaction has written so far, in write order. Pass the
 * same knex transaction or pg client (inside BEGIN) that enqueue() got, before it commits:
 * a test can then assert on what a unit of work enqueues and roll it back.
 */
export async function outboxRowsIn(
  db: SqlClient,
  options: { eventType?: string; topic?: string; schema?: string } = {},
): Promise<OutboxRowWritten[]> {
  const rows = await transactionQueries(options.schema ?? DEFAULT_SCHEMA).outboxRowsOfCurrentTransaction(
    executorFor(db),
    { eventType: options.eventType ?? null, topic: options.topic ?? null },
  )
  return rows.map((r) => ({
    id: r.id,
    eventId: r.event_id,
    eventType: r.event_type,
    topic: r.topic,
    key: r.key,
    payload: r.payload,
    headers: r.headers,
    createdAt: r.created_at,
  }))
}
