import type { ClaimedRow } from '../db/outbox-queries.js'

/**
 * Rows are ordered per topic and key. Within one batch, once a row is held back (parked, refused,
 * or its park failed), every later row of its key waits for a later batch. The claim query holds
 * back rows behind rows parked in earlier batches.
 */
export class BlockedKeys {
  private readonly keys = new Set<string>()

  private static keyOf(row: ClaimedRow): string {
    return `${row.topic}\u0000${row.key}`
  }

  block(row: ClaimedRow): void {
    this.keys.add(BlockedKeys.keyOf(row))
  }

  isBlocked(row: ClaimedRow): boolean {
    // Nearly always empty: then no key string is built per row.
    return this.keys.size > 0 && this.keys.has(BlockedKeys.keyOf(row))
  }
}
