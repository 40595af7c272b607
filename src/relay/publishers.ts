import type { Lease } from '../db/lease-queries.js'
import type { ClaimedRow } from '../db/outbox-queries.js'
import { DEFAULT_MAX_MESSAGE_BYTES } from '../defaults.js'
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

/** Framing Kafka adds to a record batch, and to each record and header in it (varints at their widest). */
const BATCH_FRAMING_BYTES = 100
const RECORD_FRAMING_BYTES = 32
const HEADER_FRAMING_BYTES = 10

/** What one message adds to a record batch, its header texts counted by `textBytes`. */
function recordSize(message: OutgoingMessage, textBytes: (text: string) => number): number {
  let bytes = RECORD_FRAMING_BYTES + message.key.length + (message.value?.length ?? 0)
  for (const name in message.headers) {
    bytes += HEADER_FRAMING_BYTES + textBytes(name) + textBytes(message.headers[name] as string)
  }
  return bytes
}

/** What one message adds to a produce request's record batch, at most. */
export function recordBytes(message: OutgoingMessage): number {
  return recordSize(message, (text) => Buffer.byteLength(text))
}

/**
 * An upper bound of what `items` add to a request, without measuring UTF-8: a UTF-16 code unit
 * is at most 3 bytes of UTF-8. Only a batch near the bound is measured exactly.
 */
function mostBytes<T>(items: readonly T[], messageOf: (item: T) => OutgoingMessage): number {
  let bytes = BATCH_FRAMING_BYTES
  for (const item of items) bytes += recordSize(messageOf(item), (text) => 3 * text.length)
  return bytes
}

/**
 * Splits `items` into consecutive runs of at most `maxBytes` of records (a run holds at least one
 * item). The broker refuses a produce request whose record batch for a partition is larger than
 * its `message.max.bytes`; such a refusal of a whole batch would otherwise send every row of it
 * one at a time (a batch of 10,000 ~330-byte events drained 8× slower than one of 2,000).
 */
function chunksOf<T>(items: readonly T[], maxBytes: number, messageOf: (item: T) => OutgoingMessage): T[][] {
  if (mostBytes(items, messageOf) <= maxBytes) return items.length === 0 ? [] : [[...items]]
  const chunks: T[][] = []
  let current: T[] = []
  let bytes = BATCH_FRAMING_BYTES
  for (const item of items) {
    const size = recordBytes(messageOf(item))
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current)
      current = []
      bytes = BATCH_FRAMING_BYTES
    }
    current.push(item)
    bytes += size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/** `items` in consecutive requests of at most `maxBytes` of records each (see chunksOf). */
export function requestChunks(items: readonly Encoded[], maxBytes: number): Encoded[][] {
  return chunksOf(items, maxBytes, (item) => item.message)
}

/** The same for messages alone: the produce requests of one exactly-once transaction. */
export function messageChunks(messages: readonly OutgoingMessage[], maxBytes: number): OutgoingMessage[][] {
  return chunksOf(messages, maxBytes, (message) => message)
}

/**
 * Sends `batch` with `send`, in consecutive requests of at most `maxRequestBytes` of records;
 * when Kafka refuses a request as a whole for a record-level reason, sends its rows one at a
 * time, so only the offending row is refused and its key's later rows (in this request and the
 * next ones) wait. Any other failure propagates: rows of requests already sent are then
 * published again with the batch, after nothing newer of their keys.
 */
export async function sendIsolatingRefusals(
  batch: readonly Encoded[],
  blocked: BlockedKeys,
  send: (items: readonly Encoded[]) => Promise<void>,
  maxRequestBytes = Number.POSITIVE_INFINITY,
): Promise<Pick<PublishOutcome, 'sent' | 'refused'>> {
  const outcome: Pick<PublishOutcome, 'sent' | 'refused'> = { sent: [], refused: [] }
  for (const chunk of requestChunks(batch, maxRequestBytes)) {
    const { sent, refused } = await sendOrIsolate(chunk, blocked, send)
    outcome.sent.push(...sent)
    outcome.refused.push(...refused)
  }
  return outcome
}

async function sendOrIsolate(
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

/**
 * At-least-once: one idempotent producer, the whole batch per send unless it is larger than
 * `maxRequestBytes` (then in consecutive sends of at most that).
 */
export class AtLeastOncePublisher implements Publisher {
  constructor(
    private readonly producer: EventProducer,
    private readonly maxRequestBytes = DEFAULT_MAX_MESSAGE_BYTES,
  ) {}

  async sync(leases: readonly Lease[]): Promise<number[]> {
    return leases.map((l) => l.shard)
  }

  async publish(batch: readonly Encoded[], blocked: BlockedKeys): Promise<PublishOutcome> {
    const outcome = await sendIsolatingRefusals(
      batch,
      blocked,
      async (items) => {
        await sendTraced(items, (messages) => this.producer.send(messages))
      },
      this.maxRequestBytes,
    )
    return { ...outcome, lostShards: [] }
  }

  async afterMarked(): Promise<void> {}

  /** At-least-once: the rows are published again when claimed again, as a crash would do. */
  async markFailed(): Promise<void> {}

  close(): Promise<void> {
    return this.producer.close()
  }
}
