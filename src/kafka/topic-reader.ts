import type { KafkaClient as Kafka } from './client.js'

export interface ReadRecord {
  topic: string
  partition: number
  offset: string
  key: Buffer | null
  value: Buffer | null
  headers: Record<string, string>
  timestamp: string
}

/**
 * Reads every record of a topic present when called (up to the high watermarks), with a
 * throwaway consumer group. Used by the demo, the test helpers and `postbox` tooling.
 */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  options: { timeoutMs?: number; isolation?: 'read_committed' | 'read_uncommitted' } = {},
): Promise<ReadRecord[]> {
  const admin = kafka.admin()
  await admin.connect()
  const watermarks = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect())
  const remaining = new Map(
    watermarks
      .filter((w) => BigInt(w.high) > BigInt(w.low))
      .map((w) => [w.partition, BigInt(w.high)] as const),
  )
  if (remaining.size === 0) return []

  const consumer = kafka.consumer({
    groupId: `postbox-reader-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
    readUncommitted: options.isolation === 'read_uncommitted',
  })
  const records: ReadRecord[] = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`reading ${topic} timed out with ${records.length} records read`)),
        options.timeoutMs ?? 30_000,
      )
      const reached = (partition: number, lastOffset: string) => {
        const high = remaining.get(partition)
        if (high !== undefined && BigInt(lastOffset) + 1n >= high) remaining.delete(partition)
        if (remaining.size === 0) {
          clearTimeout(timer)
          resolve()
        }
      }
      // Transaction markers take offsets but are never handed to eachMessage; the batch event
      // reports them, so a partition ending in a commit marker still counts as read.
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) =>
        reached(payload.partition, payload.lastOffset),
      )
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            if (!remaining.has(partition)) return
            const headers: Record<string, string> = {}
            for (const [name, value] of Object.entries(message.headers ?? {})) {
              if (value !== undefined) headers[name] = Array.isArray(value) ? String(value[0]) : String(value)
            }
            records.push({
              topic,
              partition,
              offset: message.offset,
              key: message.key,
              value: message.value,
              headers,
              timestamp: message.timestamp,
            })
            reached(partition, message.offset)
          },
        })
        .catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  return records.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)))
}
