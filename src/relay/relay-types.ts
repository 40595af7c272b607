// The relay's public shapes: its health, what each batch and failure reports, and its parts.
import type { KafkaConnection } from '../kafka/ports.js'
import type { Logger } from '../observe/logger.js'
import type { FailedDependency } from './failed-dependency.js'
import type { Clock, RelayDatabase, RelayQueries, SchemaIdResolver } from './ports.js'
import type { StallReason } from './stall.js'

export interface RelayHealth {
  running: boolean
  ready: boolean
  reason: string | null
  shards: number[]
  stall: StallReason | null
}

export interface BatchReport {
  /** What started the claim: a NOTIFY from enqueue, a poll timer, or the previous batch being full. */
  trigger: 'notify' | 'poll' | 'continue'
  /** Rows claimed for this batch (bounded by relay.batchSize and relay.maxBatchBytes). */
  claimed: number
  published: number
  parked: number
  /** Published rows with their commit→ack latency in seconds. */
  rows: { topic: string; eventType: string; latencySeconds: number }[]
}

/** A failed step of the relay: which dependency failed, and whether the relay backs off and retries it. */
export interface FailureReport {
  dependency: FailedDependency
  retriable: boolean
  /** False when the failure stops the relay (a verdict at start-up) or the relay is stopping. */
  retrying: boolean
}

export interface RelayHooks {
  onBatch?(report: BatchReport): void
  onFailure?(report: FailureReport): void
}

/** What a Relay is built from; each part left out is built from the config. */
export interface RelayParts {
  db?: RelayDatabase
  kafka?: KafkaConnection
  registry?: SchemaIdResolver
  /** The named queries run on `db` (default: the SQL in src/db/ for the config's schema). */
  queries?: RelayQueries
  logger?: Logger
  clock?: Clock
  hooks?: RelayHooks
}
