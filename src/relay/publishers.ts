import { randomUUID } from 'node:crypto'
import type { SqlExecutor } from '../db/executor.js'
import type { Lease } from '../db/lease-queries.js'
import type { ClaimedRow, OutboxQueries } from '../db/outbox-queries.js'
import type { ProgressQueries } from '../db/progress-queries.js'
import { LeaseLostError, UnpublishableError } from '../errors.js'
import type { KafkaClient as Kafka } from '../kafka/client.js'
import type { EventProducer, OutgoingMessage } from '../kafka/producer.js'
import {
  connectShardProducer,
  readCommittedProgress,
  type ShardProducer,
} from '../kafka/transactional-producer.js'
import type { Logger } from '../observe/logger.js'

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
  publish(batch: readonly Encoded[]): Promise<PublishOutcome>
  /** Called once the relay marked `sent` rows in Postgres. */
  afterMarked(shards: readonly number[]): Promise<void>
  close(): Promise<void>
}

/** Rows are ordered per topic and key: a parked row holds back later rows with both the same. */
export function orderingKey(row: ClaimedRow): string {
  return `${row.topic}\u0000${row.key}`
}

/**
 * Sends `batch` with `send`; when Kafka refuses it as a whole for a non-retriable reason,
 * sends the rows one at a time so only the offending row is refused and its key's later rows wait.
 */
async function sendIsolatingRefusals(
  batch: readonly Encoded[],
  send: (items: readonly Encoded[]) => Promise<void>,
): Promise<Pick<PublishOutcome, 'sent' | 'refused'>> {
  try {
    await send(batch)
    return { sent: batch.map((b) => b.row), refused: [] }
  } catch (error) {
    if (!(error instanceof UnpublishableError)) throw error
  }
  const sent: ClaimedRow[] = []
  const refused: PublishOutcome['refused'] = []
  const blocked = new Set<string>()
  for (const item of batch) {
    if (blocked.has(orderingKey(item.row))) continue
    try {
      await send([item])
      sent.push(item.row)
    } catch (error) {
      if (!(error instanceof UnpublishableError)) throw error
      refused.push({ row: item.row, error })
      blocked.add(orderingKey(item.row))
    }
  }
  return { sent, refused }
}

/** At-least-once: one idempotent producer, the whole batch per send. */
export function atLeastOncePublisher(producer: EventProducer): Publisher {
  return {
    sync: async (leases) => leases.map((l) => l.shard),
    async publish(batch) {
      const outcome = await sendIsolatingRefusals(batch, (items) =>
        producer.send(items.map((i) => i.message)),
      )
      return { ...outcome, lostShards: [] }
    },
    afterMarked: async () => {},
    close: () => producer.disconnect(),
  }
}

export interface ExactlyOnceOptions {
  kafka: Kafka
  db: SqlExecutor
  outbox: OutboxQueries
  progress: ProgressQueries
  relayId: string
  /** Transactional ids are `<prefix>.<shard>`; the progress group and topic are `<prefix>.progress`. */
  prefix: string
  logger: Logger
}

/**
 * Exactly-once: a Kafka transaction per shard and batch, with the batch's progress token
 * committed inside it (as the offset metadata of the shard's partition of a progress topic).
 * Taking a shard over fences older producers (same transactional id) and marks the rows of
 * the last committed batch sent, so read_committed consumers see every row once.
 */
export function exactlyOncePublisher(options: ExactlyOnceOptions): Publisher {
  const { kafka, db, outbox, progress, relayId, prefix, logger } = options
  const producers = new Map<number, ShardProducer>()
  const epochs = new Map<number, string>()
  const groupId = `${prefix}.progress`
  const progressTopic = `${prefix}.progress`
  let sequence = Date.now()

  /**
   * Starts the producers of newly held shards (fencing older ones), then marks each shard's
   * last committed batch sent. A shard is ready only once this succeeded.
   */
  const takeOver = async (leases: readonly Lease[]): Promise<void> => {
    const started = await Promise.allSettled(
      leases.map(async (lease) => ({
        lease,
        producer: await connectShardProducer(kafka, `${prefix}.${lease.shard}`, lease.shard),
      })),
    )
    const connected = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
    try {
      const committed = await readCommittedProgress(kafka, groupId, progressTopic)
      for (const { lease } of connected) {
        const token = committed.get(lease.shard)
        const ids = token === undefined ? [] : await progress.inflightIds(db, lease.shard, token)
        if (ids.length > 0) {
          const marked = await outbox.markSent(db, ids, [lease], relayId)
          logger.info(
            { shard: lease.shard, marked: marked.length },
            'took over a shard: marked its last committed batch sent',
          )
        }
      }
      await progress.clearInflight(
        db,
        connected.map((c) => c.lease.shard),
      )
    } catch (error) {
      await Promise.all(connected.map((c) => c.producer.disconnect()))
      throw error
    }
    for (const { lease, producer } of connected) {
      producers.set(lease.shard, producer)
      epochs.set(lease.shard, lease.epoch)
    }
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
  }

  return {
    async sync(leases) {
      // A shard held again under a newer epoch had another owner meanwhile: take it over afresh.
      const held = new Map(leases.map((l) => [l.shard, l.epoch]))
      for (const [shard, producer] of producers) {
        if (held.get(shard) !== epochs.get(shard)) {
          producers.delete(shard)
          await producer.disconnect()
        }
      }
      const fresh = leases.filter((l) => !producers.has(l.shard))
      if (fresh.length > 0) await takeOver(fresh)
      return [...producers.keys()]
    },

    async publish(batch) {
      const byShard = new Map<number, Encoded[]>()
      for (const item of batch) byShard.set(item.row.shard, [...(byShard.get(item.row.shard) ?? []), item])
      const outcome: PublishOutcome = { sent: [], refused: [], lostShards: [] }
      // Shards are independent (a key lives in one shard), so their transactions run side by side.
      const settled = await Promise.allSettled(
        [...byShard].map(async ([shard, items]) => {
          const producer = producers.get(shard)
          if (producer === undefined) return
          try {
            const result = await sendIsolatingRefusals(items, async (part) => {
              const token = randomUUID()
              await progress.recordInflight(
                db,
                token,
                shard,
                part.map((p) => p.row.id),
                relayId,
              )
              sequence++
              await producer.publishAtomically(
                part.map((p) => p.message),
                {
                  groupId,
                  topic: progressTopic,
                  partition: shard,
                  offset: String(sequence),
                  metadata: token,
                },
              )
            })
            outcome.sent.push(...result.sent)
            outcome.refused.push(...result.refused)
          } catch (error) {
            // Whatever failed, this producer's last commit may or may not have happened: start the
            // shard afresh, so the takeover path reads the committed progress back before anything
            // is published again.
            producers.delete(shard)
            await producer.disconnect()
            if (!(error instanceof LeaseLostError)) throw error
            outcome.lostShards.push(shard)
          }
        }),
      )
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (failed !== undefined) outcome.failure = failed.reason
      outcome.sent.sort((a, b) => Number(BigInt(a.id) - BigInt(b.id)))
      return outcome
    },

    afterMarked: (shards) => progress.clearInflight(db, shards),

    async close() {
      await Promise.all([...producers.values()].map((p) => p.disconnect()))
      producers.clear()
    },
  }
}
