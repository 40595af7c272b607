import type { Lease } from '../db/lease-queries.js'
import type { ClaimedRow } from '../db/outbox-queries.js'
import { BlockedKeys } from './blocked-keys.js'
import type { Encoded } from './publishers.js'

/**
 * Pipelining (at-least-once): while batch N is produced to Kafka and marked, batch N+1 is claimed
 * and encoded. Per-key order holds because:
 *
 * - N+1 is published only after N has been acknowledged and marked (or not at all: when N fails,
 *   is not published, or its marks fail, N+1 is dropped unpublished and its rows stay pending);
 * - the claim of N+1 skips N's ids (still pending until N is marked) and otherwise takes the
 *   lowest publishable ids, as every claim does: a row of N+1 has no smaller pending id of its key
 *   outside N and N+1 that the claim could have taken;
 * - a row of N+1 whose topic and key has a row in N that was not marked sent (refused, parked,
 *   skipped behind such a row, a park that failed, a shard fenced) is held back: not published
 *   with N+1, it stays pending for a later claim;
 * - N+1 is published only for the shards still held at the epoch it was claimed under;
 * - a batch that held rows back is not pipelined: the claim after it starts once it is marked and
 *   skips nothing, so the held rows come first again (no key is held back batch after batch).
 *
 * So a row is published only after every smaller id of its key that a claim could see was
 * published, exactly as one batch at a time. The depth is two: one batch producing, one prepared.
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
  /** Rows held back because their key was not fully published by the batch before. */
  held: number
  /** The leases the rows were claimed under. */
  leases: Lease[]
  /** The claim stopped at its row or byte bound: more rows are probably waiting. */
  full: boolean
}

export function emptyBatch(trigger: PreparedBatch['trigger'], leases: Lease[]): PreparedBatch {
  return {
    trigger,
    claimed: [],
    batch: [],
    blocked: new BlockedKeys(),
    parked: 0,
    held: 0,
    leases,
    full: false,
  }
}

/**
 * Holds back the rows of `next` whose key has a row in `previous` that was not marked sent; returns
 * `next` with those keys blocked.
 */
export function holdUnsettled(
  next: PreparedBatch,
  previous: PreparedBatch,
  marked: ReadonlySet<string>,
): PreparedBatch {
  const unsettled = new BlockedKeys()
  for (const row of previous.claimed) if (!marked.has(row.id)) unsettled.block(row)
  let held = 0
  for (const row of next.claimed) {
    if (unsettled.isBlocked(row)) {
      next.blocked.block(row)
      held++
    }
  }
  return { ...next, held }
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

/** The encoded rows to publish: not blocked, and of a shard still held at the epoch they were claimed under. */
export function publishable(prepared: PreparedBatch, held: readonly Lease[]): Encoded[] {
  const claimedUnder = new Map(prepared.leases.map((l) => [l.shard, l.epoch]))
  const stillHeld = new Set(held.filter((l) => claimedUnder.get(l.shard) === l.epoch).map((l) => l.shard))
  return prepared.batch.filter(({ row }) => stillHeld.has(row.shard) && !prepared.blocked.isBlocked(row))
}
