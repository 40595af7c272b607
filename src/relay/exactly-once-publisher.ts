import { randomUUID } from 'node:crypto'
import type { SqlExecutor } from '../db/executor.js'
import type { Lease } from '../db/lease-queries.js'
import { DEFAULT_MAX_MESSAGE_BYTES } from '../defaults.js'
import { FencedError, UnpublishableError } from '../errors.js'
import type { KafkaConnection, ShardProducer } from '../kafka/ports.js'
import type { Logger } from '../observe/logger.js'
import { sendTraced } from '../observe/tracing.js'
import type { BlockedKeys } from './blocked-keys.js'
import type { RelayQueries } from './ports.js'
import {
  type Encoded,
  messageChunks,
  type Publisher,
  type PublishOutcome,
  sendIsolatingRefusals,
} from './publishers.js'

/**
 * A progress token: a UUID whose first 48 bits are `sequence`, so tokens sort (as Postgres
 * compares uuids, byte by byte) in the order they were made; the rest is random.
 */
export function progressToken(sequence: number): string {
  const ordered = sequence.toString(16).padStart(12, '0').slice(-12)
  const random = randomUUID()
  return `${ordered.slice(0, 8)}-${ordered.slice(8, 12)}-${random.slice(14)}`
}

export interface ExactlyOnceOptions {
  kafka: KafkaConnection
  db: SqlExecutor
  queries: Pick<RelayQueries, 'outbox' | 'progress'>
  relayId: string
  /** Transactional ids are `<prefix>.<shard>`; the progress group and topic are `<prefix>.progress`. */
  prefix: string
  logger: Logger
  /**
   * Largest produce request, in bytes of records (the relay's maxMessageBytes, under the broker's
   * message.max.bytes): a shard's batch goes out in requests of at most this, in one transaction.
   */
  maxRequestBytes?: number
}

/**
 * Exactly-once: a Kafka transaction per shard and batch, with the batch's progress token
 * committed inside it (as the offset metadata of the shard's partition of a progress topic).
 * Taking a shard over fences older producers (same transactional id) and marks the rows of
 * the last committed batch sent, so read_committed consumers see every row once.
 */
export class ExactlyOncePublisher implements Publisher {
  private readonly producers = new Map<number, ShardProducer>()
  private readonly epochs = new Map<number, string>()
  private readonly progressTopic: string
  private readonly maxRequestBytes: number
  private sequence = Date.now()

  constructor(private readonly options: ExactlyOnceOptions) {
    this.progressTopic = `${options.prefix}.progress`
    this.maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_MESSAGE_BYTES
  }

  /** Restarts shards held again under a newer epoch (another owner had them meanwhile) and takes over new ones. */
  async sync(leases: readonly Lease[]): Promise<number[]> {
    const held = new Map(leases.map((l) => [l.shard, l.epoch]))
    for (const shard of [...this.producers.keys()]) {
      if (held.get(shard) !== this.epochs.get(shard)) await this.restart(shard)
    }
    const fresh = leases.filter((l) => !this.producers.has(l.shard))
    if (fresh.length > 0) await this.takeOver(fresh)
    return [...this.producers.keys()]
  }

  /**
   * Starts the producers of newly held shards (fencing older ones), then marks each shard's
   * last committed batch sent. A shard is ready only once this succeeded.
   */
  async takeOver(leases: readonly Lease[]): Promise<void> {
    const { kafka, db, queries, relayId, prefix, logger } = this.options
    const started = await Promise.allSettled(
      leases.map(async (lease) => ({
        lease,
        producer: await kafka.shardProducer(`${prefix}.${lease.shard}`),
      })),
    )
    const connected = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
    try {
      const committed = await kafka.committedProgress(this.progressTopic, this.progressTopic)
      for (const { lease } of connected) {
        const token = committed.get(lease.shard)
        const ids = token === undefined ? [] : await queries.progress.inflightIds(db, lease.shard, token)
        if (ids.length > 0) {
          const marked = await queries.outbox.markSent(db, ids, [lease], relayId)
          logger.info(
            { shard: lease.shard, marked: marked.length },
            'took over a shard: marked its last committed batch sent',
          )
        }
      }
      await queries.progress.clearInflight(
        db,
        connected.map((c) => c.lease.shard),
      )
    } catch (error) {
      await Promise.all(connected.map((c) => c.producer.close()))
      throw error
    }
    for (const { lease, producer } of connected) {
      this.producers.set(lease.shard, producer)
      this.epochs.set(lease.shard, lease.epoch)
    }
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
  }

  /** Shards are independent (a key lives in one shard), so their transactions run side by side. */
  async publish(batch: readonly Encoded[], blocked: BlockedKeys): Promise<PublishOutcome> {
    const byShard = new Map<number, Encoded[]>()
    for (const item of batch) {
      const items = byShard.get(item.row.shard)
      if (items === undefined) byShard.set(item.row.shard, [item])
      else items.push(item)
    }
    const outcome: PublishOutcome = { sent: [], refused: [], lostShards: [] }
    const settled = await Promise.allSettled(
      [...byShard].map(async ([shard, items]) => {
        try {
          const result = await this.publishShard(shard, items, blocked)
          outcome.sent.push(...result.sent)
          outcome.refused.push(...result.refused)
        } catch (error) {
          // Whatever failed, the last commit may or may not have happened: restart the shard, so
          // the takeover reads the committed progress back before anything is published again.
          await this.restart(shard)
          if (!(error instanceof FencedError)) throw error
          outcome.lostShards.push(shard)
        }
      }),
    )
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed !== undefined) outcome.failure = failed.reason
    outcome.sent.sort((a, b) => Number(BigInt(a.id) - BigInt(b.id)))
    return outcome
  }

  /** Forgets the in-flight records of shards still running; a restarted shard needs its own for the takeover. */
  async afterMarked(shards: readonly number[]): Promise<void> {
    const running = shards.filter((s) => this.producers.has(s))
    if (running.length > 0) await this.options.queries.progress.clearInflight(this.options.db, running)
  }

  /**
   * The batch's Kafka transaction committed but its rows are still pending: restart the shards, so
   * the takeover reads the committed progress back and marks that batch sent before the rows could
   * be claimed and published a second time.
   */
  async markFailed(shards: readonly number[]): Promise<void> {
    for (const shard of shards) await this.restart(shard)
  }

  async close(): Promise<void> {
    const producers = [...this.producers.values()]
    this.producers.clear()
    this.epochs.clear()
    await Promise.all(producers.map((p) => p.close()))
  }

  private async publishShard(
    shard: number,
    items: readonly Encoded[],
    blocked: BlockedKeys,
  ): Promise<Pick<PublishOutcome, 'sent' | 'refused'>> {
    const producer = this.producers.get(shard)
    if (producer === undefined) return { sent: [], refused: [] }
    const { db, queries, relayId } = this.options
    return sendIsolatingRefusals(items, blocked, async (part) => {
      this.sequence++
      const token = progressToken(this.sequence)
      const ids = part.map((p) => p.row.id)
      await queries.progress.recordInflight(db, token, shard, ids, relayId)
      const progress = {
        groupId: this.progressTopic,
        topic: this.progressTopic,
        partition: shard,
        offset: String(this.sequence),
        metadata: token,
      }
      try {
        await sendTraced(part, (messages) =>
          producer.publishAtomically(messageChunks(messages, this.maxRequestBytes), progress),
        )
      } catch (error) {
        // Refused: the transaction was aborted. Its record goes before anything newer is sent, so
        // a takeover never takes it for one of the committed parts (inflightIds).
        if (error instanceof UnpublishableError) await queries.progress.forgetInflight(db, token)
        throw error
      }
    })
  }

  private async restart(shard: number): Promise<void> {
    const producer = this.producers.get(shard)
    this.producers.delete(shard)
    this.epochs.delete(shard)
    await producer?.close()
  }
}
