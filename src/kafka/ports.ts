import type { CleanupPolicy } from '../catalog/types.js'

/**
 * What Postbox needs from Kafka, in its own types. The kafkajs implementation lives in
 * client.ts; nothing outside src/kafka/ sees a kafkajs type.
 */

export interface OutgoingMessage {
  topic: string
  key: Buffer
  /** null publishes a tombstone. */
  value: Buffer | null
  headers: Record<string, string>
}

/** Where Kafka stored one record, from the produce acknowledgement. */
export interface Delivery {
  partition: number
  offset: string
}

/**
 * Publishes batches idempotently (acks=all, one request in flight keeps per-partition order).
 * `send` resolves with one Delivery per message, in the order given; it throws
 * UnpublishableError when Kafka refuses a record for good, UnavailableError otherwise.
 */
export interface EventProducer {
  /**
   * Connects now (send connects when needed): credentials, TLS and SASL problems surface here, at
   * start-up, as ConnectionSecurityError rather than in the loop.
   */
  connect(): Promise<void>
  send(messages: readonly OutgoingMessage[]): Promise<Delivery[]>
  close(): Promise<void>
}

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
 * One transactional producer per shard (transactional id per shard): starting it fences every
 * older producer with the same id. `publishAtomically` sends each of `requests` as one produce
 * request, and commits them all and the progress mark in one Kafka transaction; it resolves with
 * one Delivery per message, in order, once the transaction committed. It throws FencedError
 * when a newer producer took the id over, UnpublishableError when Kafka refuses a record,
 * UnavailableError otherwise (then the commit may or may not have happened).
 */
export interface ShardProducer {
  publishAtomically(
    requests: readonly (readonly OutgoingMessage[])[],
    progress: ProgressMark,
  ): Promise<Delivery[]>
  close(): Promise<void>
}

export interface TopicSpec {
  topic: string
  cleanupPolicy: CleanupPolicy
  partitions: number
}

/** A Kafka cluster as the relay uses it. */
export interface KafkaConnection {
  /** A new idempotent producer; it connects on first send. */
  producer(): EventProducer
  /** Starts the transactional producer `transactionalId`, fencing older ones. */
  shardProducer(transactionalId: string): Promise<ShardProducer>
  /** Creates the topics that do not exist yet; returns the names created. */
  ensureTopics(specs: readonly TopicSpec[]): Promise<string[]>
  /** The progress tokens last committed for each partition (shard) of the progress topic. */
  committedProgress(groupId: string, topic: string): Promise<Map<number, string>>
}

/** A record as read back from a topic (tooling and tests). */
export interface ReadRecord {
  topic: string
  partition: number
  offset: string
  key: Buffer | null
  value: Buffer | null
  headers: Record<string, string>
  timestamp: string
}

export interface ReadOptions {
  timeoutMs?: number
  isolation?: 'read_committed' | 'read_uncommitted'
}
