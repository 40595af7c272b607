// The ceiling: the very messages the relay published (same keys, values, headers, topic and
// partitions), read back and sent again with the relay's own Kafka client and producer factory,
// one batch of the relay's size at a time. No database.
import { randomBytes } from 'node:crypto'
import { Kafka, logLevel } from 'kafkajs'
import { kafkaClient, type OutgoingMessage, silentLogger } from './relay-api.js'
import type { Stack } from './stack.js'
import { waitFor } from './timeline.js'

/** Reads the first `count` messages of `topic` as the relay published them. */
export async function readPublished(stack: Stack, topic: string, count: number): Promise<OutgoingMessage[]> {
  const kafka = new Kafka({ clientId: 'postbox-bench', brokers: stack.brokers, logLevel: logLevel.NOTHING })
  const groupId = `postbox-bench-${randomBytes(4).toString('hex')}`
  const consumer = kafka.consumer({ groupId })
  const messages: OutgoingMessage[] = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          if (m.key === null) continue
          const headers: Record<string, string> = {}
          for (const [name, value] of Object.entries(m.headers ?? {})) headers[name] = String(value)
          messages.push({ topic, key: m.key, value: m.value, headers })
        }
      },
    })
    await waitFor(
      'reading the published messages',
      () => messages.length >= count,
      () => messages.length,
    )
  } finally {
    await consumer.disconnect()
  }
  const admin = kafka.admin()
  await admin.connect()
  await admin.deleteGroups([groupId]).finally(() => admin.disconnect())
  return messages.slice(0, count)
}

export interface RawResult {
  perSecond: number
  averageValueBytes: number
}

export async function measureRawProducer(
  stack: Stack,
  messages: readonly OutgoingMessage[],
  batchSize: number,
): Promise<RawResult> {
  const producer = kafkaClient(stack.brokers, 'postbox-bench', silentLogger).producer()
  try {
    // One warm-up batch connects the producer and fetches metadata outside the timing.
    await producer.send(messages.slice(0, Math.min(batchSize, messages.length)))
    const started = performance.now()
    for (let i = 0; i < messages.length; i += batchSize) {
      await producer.send(messages.slice(i, i + batchSize))
    }
    const seconds = (performance.now() - started) / 1000
    const bytes = messages.reduce((sum, m) => sum + (m.value?.length ?? 0), 0)
    return { perSecond: messages.length / seconds, averageValueBytes: bytes / messages.length }
  } finally {
    await producer.close()
  }
}
