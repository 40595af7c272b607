// Reading back what the relay published, for the raw-producer rows. Imports no Postbox code at run
// time (the OutgoingMessage import is a type), so the stock-kafkajs child can use it unchanged.
import { randomBytes } from 'node:crypto'
import { Kafka, logLevel } from 'kafkajs'
import type { OutgoingMessage } from './relay-api.js'
import { waitFor } from './timeline.js'

/** Reads the first `count` messages of `topic` as the relay published them. */
export async function readPublished(
  brokers: readonly string[],
  topic: string,
  count: number,
): Promise<OutgoingMessage[]> {
  const kafka = new Kafka({ clientId: 'postbox-bench', brokers: [...brokers], logLevel: logLevel.NOTHING })
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
