import type { ClaimedRow } from '../db/outbox-queries.js'
import { describeError, UnpublishableError } from '../errors.js'
import type { OutgoingMessage } from '../kafka/ports.js'
import type { Logger } from '../observe/logger.js'
import type { BlockedKeys } from './blocked-keys.js'
import type { ShardLeases } from './leases.js'
import type { RelayDatabase, RelayQueries } from './ports.js'
import type { Encoded, PublishOutcome } from './publishers.js'

/** Parks the rows that cannot be published, fenced by the shard leases, and blocks their keys. */
export class Parking {
  constructor(
    private readonly db: RelayDatabase,
    private readonly queries: RelayQueries,
    private readonly leases: ShardLeases,
    private readonly relayId: string,
    private readonly logger: Logger,
  ) {}

  /** Encodes each row; a row that cannot be published is parked and blocks its key. */
  async encodeOrPark(
    rows: readonly ClaimedRow[],
    blocked: BlockedKeys,
    encode: (row: ClaimedRow) => OutgoingMessage,
  ): Promise<{ batch: Encoded[]; parked: number }> {
    const batch: Encoded[] = []
    let parked = 0
    for (const row of rows) {
      if (blocked.isBlocked(row)) continue
      try {
        batch.push({ row, message: encode(row) })
      } catch (error) {
        if (!(error instanceof UnpublishableError)) throw error
        if (await this.park(row, error, blocked)) parked++
      }
    }
    return { batch, parked }
  }

  /** Parks the rows Kafka refused; returns how many were parked. */
  async parkRefused(refused: PublishOutcome['refused'], blocked: BlockedKeys): Promise<number> {
    let parked = 0
    for (const { row, error } of refused) {
      if (await this.park(row, error, blocked)) parked++
    }
    return parked
  }

  /**
   * Parks one row and blocks its key for this batch. A failed park never fails the batch: the row
   * stays pending, its key waits, and the next batch tries again. Returns whether it was parked.
   */
  private async park(row: ClaimedRow, error: UnpublishableError, blocked: BlockedKeys): Promise<boolean> {
    blocked.block(row)
    const fields = { outboxId: row.id, eventType: row.event_type, key: row.key, err: describeError(error) }
    try {
      // Fenced like markSent: when the shard's lease moved on, its new holder decides about the row.
      const parked = await this.queries.outbox.parkRow(
        this.db,
        row.id,
        describeError(error),
        this.leases.leases,
        this.relayId,
      )
      if (!parked) return false
    } catch (parkError) {
      this.logger.error(
        { ...fields, parkErr: describeError(parkError) },
        'could not park a row that cannot be published; it stays pending and its key waits',
      )
      return false
    }
    this.logger.error(
      fields,
      'parked a row that cannot be published; later rows of its key wait (postbox parked retry|skip)',
    )
    return true
  }
}
