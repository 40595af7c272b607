import { UnavailableError, UnpublishableError } from '../errors.js'
import type { KafkaClient as Kafka, KafkaProducer as Producer } from './client.js'

export interface OutgoingMessage {
  topic: string
  key: Buffer
  /** null publishes a tombstone. */
  value: Buffer | null
  headers: Record<string, string>
}

/** Publishes batches with an idempotent producer (acks=all, one request in flight keeps order). */
export interface EventProducer {
  send(messages: readonly OutgoingMessage[]): Promise<void>
  disconnect(): Promise<void>
}

/** Groups messages by topic for kafkajs's sendBatch, keeping their order within each topic. */
export function toTopicMessages(messages: readonly OutgoingMessage[]) {
  const byTopic = new Map<string, OutgoingMessage[]>()
  for (const m of messages) {
    const list = byTopic.get(m.topic) ?? []
    list.push(m)
    byTopic.set(m.topic, list)
  }
  return [...byTopic].map(([topic, list]) => ({
    topic,
    messages: list.map((m) => ({ key: m.key, value: m.value, headers: m.headers })),
  }))
}

function isRetriableKafkaError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return true
  const e = error as { retriable?: unknown; name?: unknown; type?: unknown }
  if (e.type === 'MESSAGE_TOO_LARGE' || e.type === 'RECORD_LIST_TOO_LARGE' || e.type === 'INVALID_RECORD') {
    return false
  }
  return (
    e.retriable !== false ||
    e.name === 'KafkaJSConnectionError' ||
    e.name === 'KafkaJSNumberOfRetriesExceeded'
  )
}

export function createEventProducer(kafka: Kafka, options: { transactionalId?: string } = {}): EventProducer {
  let producer: Producer | null = null

  const connected = async (): Promise<Producer> => {
    if (producer !== null) return producer
    const created = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      transactionalId: options.transactionalId,
    })
    try {
      await created.connect()
    } catch (cause) {
      await created.disconnect().catch(() => {})
      throw new UnavailableError('kafka', `cannot connect the producer: ${String(cause)}`, { cause })
    }
    producer = created
    return created
  }

  // After a failed send the idempotent producer's sequence state is suspect: start a fresh one.
  const discard = async () => {
    const old = producer
    producer = null
    await old?.disconnect().catch(() => {})
  }

  return {
    async send(messages) {
      if (messages.length === 0) return
      const p = await connected()
      try {
        await p.sendBatch({ acks: -1, topicMessages: toTopicMessages(messages) })
      } catch (cause) {
        await discard()
        if (isRetriableKafkaError(cause)) {
          throw new UnavailableError('kafka', `publishing failed: ${String(cause)}`, { cause })
        }
        throw new UnpublishableError(`Kafka refused the batch: ${String(cause)}`, { cause })
      }
    },
    disconnect: discard,
  }
}
