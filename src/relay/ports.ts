import { eventTypeQueries } from '../db/event-type-queries.js'
import type { SqlExecutor } from '../db/executor.js'
import { clusterIdentity, leaseQueries, oldestOpenTransaction } from '../db/lease-queries.js'
import { outboxQueries, type SentRows } from '../db/outbox-queries.js'
import { progressQueries } from '../db/progress-queries.js'
import type { RegistryClient } from '../schema/registry.js'

/** The parts a Relay is assembled from, besides Kafka (src/kafka/ports.ts) and the logger. */

export interface Listener {
  close(): Promise<void>
}

/** The relay's database: parameterised SQL, a LISTEN connection for wake-up hints, close. */
export interface RelayDatabase extends SqlExecutor {
  /** Calls `onNotify` on each NOTIFY on `channel`; `onError` when the connection is lost. */
  listen(channel: string, onNotify: () => void, onError: (error: unknown) => void): Promise<Listener>
  close(): Promise<void>
}

/** The named queries the relay runs on its database (SQL in src/db/). */
export interface RelayQueries {
  outbox: Pick<
    ReturnType<typeof outboxQueries>,
    'claimPendingBatch' | 'markSent' | 'parkRow' | 'unsettledRows' | 'checkMarkTables'
  >
  leases: ReturnType<typeof leaseQueries>
  progress: ReturnType<typeof progressQueries>
  eventTypes: ReturnType<typeof eventTypeQueries>
  oldestOpenTransaction: typeof oldestOpenTransaction
  clusterIdentity: typeof clusterIdentity
}

export function relayQueries(schema: string, sentRows: SentRows = 'keep'): RelayQueries {
  return {
    outbox: outboxQueries(schema, sentRows),
    leases: leaseQueries(schema),
    progress: progressQueries(schema),
    eventTypes: eventTypeQueries(schema),
    oldestOpenTransaction,
    clusterIdentity,
  }
}

/** Resolves (and, when allowed, registers) the schema ids the relay encodes with. */
export type SchemaIdResolver = Pick<RegistryClient, 'resolveSchemaId'>

export interface Clock {
  /** Wall-clock milliseconds (Date.now()). */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }
