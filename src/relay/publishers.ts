import type { Lease } from '../db/lease-queries.js'
import type { ClaimedRow } from '../db/outbox-queries.js'
import { UnpublishableError } from '../errors.js'
import type { EventProducer, OutgoingMessage } from '../kafka/ports.js'
import { sendTraced } from '../observe/tracing.js'
import type { BlockedKeys } from './blocked-keys.js'

export interface Encoded {
  row: ClaimedRow
  message: OutgoingMessage
}

export interface PublishOutcome {
  sent: ClaimedRow[]
  /** Rows Kafka refused for good; the relay parks them (and their key's later rows wait). */
  refused: { row: ClaimedRow; error: UnpublishableError }[]
  /** Shards found fenced while publishing: the relay drops them. */
  lostShards: number[]
  /** A retriable failure of some shards, thrown once the rows of the others are marked. */
  failure?: unknown
}

/** Publishes one claimed batch; the delivery mode decides how. */
export interface Publisher {
  /** Called after each lease check with the shards held; returns the shards ready to publish. */
  sync(leases: readonly Lease[]): Promise<number[]>
  /** Publishes `batch`; rows of keys in `blocked` are skipped, and refused rows block their key. */
  publish(batch: readonly Encoded[], blocked: BlockedKeys): Promise<PublishOutcome>
  /** Called once the relay marked `sent` rows in Postgres. */
  afterMarked(shards: readonly number[]): Promise<void>
  /**
   * Called when marking a published batch failed (the database went away after Kafka acknowledged
   * it). The rows are still pending and will be claimed again.
   */
  markFailed(shards: readonly number[]): Promise<void>
  close(): Promise<void>
}

/**
 * Sends `batch` with `send`; when Kafka refuses it as a whole for a record-level reason, sends
 * the rows one at a time, so only the offending row is refused and its key's later rows wait.
 * Any other failure propagates.
 */
export async function sendIsolatingRefusals(
  batch: readonly Encoded[],
  blocked: BlockedKeys,
  send: (items: readonly Encoded[]) => Promise<void>,
): Promise<Pick<PublishOutcome, 'sent' | 'refused'>> {
  const open = batch.filter((item) => !blocked.isBlocked(item.row))
  if (open.length === 0) return { sent: [], refused: [] }
  try {
    await send(open)
    return { sent: open.map((b) => b.row), refused: [] }
  } catch (error) {
    if (!(error instanceof UnpublishableError)) throw error
  }
  const sent: ClaimedRow[] = []
  const refused: PublishOutcome['refused'] = []
  for (const item of open) {
    if (blocked.isBlocked(item.row)) continue
    try {
      await send([item])
      sent.push(item.row)
    } catch (error) {
      if (!(error instanceof UnpublishableError)) throw error
      refused.push({ row: item.row, error })
      blocked.block(item.row)
    }
  }
  return { sent, refused }
}

/** At-least-once: one idempotent producer, the whole batch per send. */
export class AtLeastOncePublisher implements Publisher {
  constructor(private readonly producer: EventProducer) {}

  async sync(leases: readonly Lease[]): Promise<number[]> {
    return leases.map((l) => l.shard)
  }

  async publish(batch: readonly Encoded[], blocked: BlockedKeys): Promise<PublishOutcome> {
    const outcome = await sendIsolatingRefusals(batch, blocked, async (items) => {
      await sendTraced(items, (messages) => this.producer.send(messages))
    })
    return { ...outcome, lostShards: [] }
  }

  async afterMarked(): Promise<void> {}

  /** At-least-once: the rows are published again when claimed again, as a crash would do. */
  async markFailed(): Promise<void> {}

  close(): Promise<void> {
    return this.producer.close()
  }
}
