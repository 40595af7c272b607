import type { Lease } from '../db/lease-queries.js'
import type { ClaimedRow } from '../db/outbox-queries.js'
import { BlockedKeys } from './blocked-keys.js'
import type { Encoded } from './publishers.js'

/**
 * Pipelining (at-least-once): while batch N is produced to Kafka and marked, batch N+1 is claimed
 * and encoded. Per-key order holds because N+1 never publishes a row of a key N claimed:
 *
 * - the claim of N+1 skips N's ids (they are still pending until N is marked), so it takes the
 *   next pending rows in id order, not N's again;
 * - every row of N+1 whose topic and key appear among N's claimed rows is held back: it is not
 *   encoded or published with N+1, stays pending, and is claimed again by a later claim, which
 *   starts only after N is acknowledged and marked (N+2 is claimed while N+1 is produced);
 * - N+1 is published only after N is marked, and only for the shards still held at the epoch it
 *   was claimed under; when N fails or was not published, N+1 is dropped unpublished.
 *
 * A key therefore has rows in at most one batch in flight, and the batches of one key are
 * published one after the other in id order, as without pipelining. The depth is two: one batch
 * producing, one prepared.
 */
export interface PreparedBatch {
  /** What started the claim (reported with the batch). */
  trigger: 'notify' | 'poll' | 'continue'
  /** Every row claimed, held-back rows included: the ids and keys in flight while it publishes. */
  claimed: ClaimedRow[]
  /** Encoded rows to publish. */
  batch: Encoded[]
  /** Keys of rows parked or held back in this batch: their later rows in the batch wait too. */
  blocked: BlockedKeys
  /** Rows parked while encoding. */
  parked: number
  /** The leases the rows were claimed under. */
  leases: Lease[]
  /** The claim stopped at its row or byte bound: more rows are probably waiting. */
  full: boolean
}

/** The keys of a batch in flight: rows of these keys wait until it is acknowledged and marked. */
export function keysInFlight(inFlight: PreparedBatch | null): BlockedKeys {
  const keys = new BlockedKeys()
  for (const row of inFlight?.claimed ?? []) keys.block(row)
  return keys
}

/**
 * Whether a claim stopped at its bounds rather than for want of rows. The byte bound is judged
 * with the largest row seen as the size of the next one; a wrong guess only costs one early or
 * one late claim, never a row.
 */
export function claimWasFull(rows: readonly ClaimedRow[], batchSize: number, maxBatchBytes: number): boolean {
  if (rows.length >= batchSize) return true
  let total = 0
  let largest = 0
  for (const row of rows) {
    const bytes = row.stored_bytes ?? 0
    total += bytes
    largest = Math.max(largest, bytes)
  }
  return rows.length > 0 && total + largest > maxBatchBytes
}

/** The encoded rows whose shard is still held at the epoch they were claimed under. */
export function stillHeld(prepared: PreparedBatch, held: readonly Lease[]): Encoded[] {
  const now = new Set(held.map((l) => `${l.shard}:${l.epoch}`))
  const claimedUnder = new Map(prepared.leases.map((l) => [l.shard, l.epoch]))
  return prepared.batch.filter(({ row }) => now.has(`${row.shard}:${claimedUnder.get(row.shard)}`))
}
