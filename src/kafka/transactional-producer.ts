import { LeaseLostError, UnavailableError, UnpublishableError } from '../errors.js'
import type { KafkaClient as Kafka, KafkaProducer as Producer } from './client.js'
import { type OutgoingMessage, toTopicMessages } from './producer.js'

/** Where a shard's progress is committed, atomically with its messages. */
export interface ProgressMark {
  groupId: string
  topic: string
  partition: number
  /** Any increasing number; the progress token travels in `metadata`. */
  offset: string
  metadata: string
}

/**
 * One transactional producer per shard (transactional id per shard): connecting it fences
 * every older producer with the same id and completes or aborts its open transaction.
 */
export interface ShardProducer {
  publishAtomically(messages: readonly OutgoingMessage[], progress: ProgressMark): Promise<void>
  disconnect(): Promise<void>
}

const FENCED = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED'])

function isFenced(error: unknown): boolean {
  const e = error as { type?: string; message?: string; cause?: unknown } | null
  if (e === null || typeof e !== 'object') return false
  if (typeof e.type === 'string' && FENCED.has(e.type)) return true
  if (typeof e.message === 'string' && /fenced|epoch/i.test(e.message)) return true
  return e.cause !== undefined && e.cause !== error && isFenced(e.cause)
}

export async function connectShardProducer(
  kafka: Kafka,
  transactionalId: string,
  shard: number,
): Promise<ShardProducer> {
  const producer: Producer = kafka.producer({
    transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    transactionTimeout: 30_000,
  })
  try {
    await producer.connect()
  } catch (cause) {
    await producer.disconnect().catch(() => {})
    throw new UnavailableError(
      'kafka',
      `cannot start the transactional producer ${transactionalId}: ${String(cause)}`,
      {
        cause,
      },
    )
  }
  return {
    async publishAtomically(messages, progress) {
      let transaction: Awaited<ReturnType<Producer['transaction']>> | null = null
      try {
        transaction = await producer.transaction()
        await transaction.sendBatch({ acks: -1, topicMessages: toTopicMessages(messages) })
        await transaction.sendOffsets({
          consumerGroupId: progress.groupId,
          topics: [
            {
              topic: progress.topic,
              partitions: [
                { partition: progress.partition, offset: progress.offset, metadata: progress.metadata },
              ],
            },
          ] as never,
        })
        await transaction.commit()
      } catch (cause) {
        if (transaction?.isActive()) await transaction.abort().catch(() => {})
        if (isFenced(cause)) throw new LeaseLostError([shard])
        const e = cause as { type?: string }
        if (e?.type === 'MESSAGE_TOO_LARGE' || e?.type === 'RECORD_LIST_TOO_LARGE') {
          throw new UnpublishableError(`Kafka refused the batch: ${String(cause)}`, { cause })
        }
        throw new UnavailableError('kafka', `transactional publish failed: ${String(cause)}`, { cause })
      }
    },
    disconnect: () => producer.disconnect().catch(() => {}),
  }
}

/** The progress tokens last committed for each partition (shard) of the progress topic. */
export async function readCommittedProgress(
  kafka: Kafka,
  groupId: string,
  topic: string,
): Promise<Map<number, string>> {
  const admin = kafka.admin()
  try {
    await admin.connect()
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] })
    const tokens = new Map<number, string>()
    for (const p of offsets?.partitions ?? []) {
      if (p.metadata) tokens.set(p.partition, p.metadata)
    }
    return tokens
  } catch (cause) {
    throw new UnavailableError('kafka', `cannot read shard progress: ${String(cause)}`, { cause })
  } finally {
    await admin.disconnect().catch(() => {})
  }
}
