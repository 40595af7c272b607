// The ceiling: the very messages the relay published (same keys, values, headers, topic and
// partitions), read back and sent again with the relay's own Kafka client and producer factory,
// one batch of the relay's size at a time. No database.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { kafkaClient, type OutgoingMessage, silentLogger } from './relay-api.js'
import type { Stack } from './stack.js'

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

/**
 * The same row for kafkajs as published, without Postbox's tuning: in a child process that never
 * loads Postbox (bench/raw-stock-kafkajs.ts), since the tuning applies to every kafkajs user in a
 * process once Postbox is loaded.
 */
export async function measureStockKafkajs(
  stack: Stack,
  topic: string,
  count: number,
  batchSize: number,
): Promise<number> {
  const script = fileURLToPath(new URL('raw-stock-kafkajs.ts', import.meta.url))
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', script, stack.brokers.join(','), topic, String(count), String(batchSize)],
    { maxBuffer: 1024 * 1024 },
  )
  return (JSON.parse(stdout) as { perSecond: number }).perSecond
}
