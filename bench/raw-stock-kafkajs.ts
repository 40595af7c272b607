// The raw producer row for kafkajs as published (2.2.4, none of src/kafka/kafkajs-tuning.ts): a
// process of its own that never loads Postbox, reading back the messages the relay published and
// sending them again with a plain idempotent kafkajs producer (acks=all, one request in flight,
// kafkajs's default partitioner), one batch of the relay's size at a time.
//   node --import tsx bench/raw-stock-kafkajs.ts <brokers> <topic> <count> <batch size>
// prints {"perSecond": …} on stdout.
import { Kafka, logLevel } from 'kafkajs'
import { readPublished } from './read-published.js'

const [brokerList = '', topic = '', countText = '', batchText = ''] = process.argv.slice(2)
const brokers = brokerList.split(',')
const count = Number(countText)
const batchSize = Number(batchText)

const messages = await readPublished(brokers, topic, count)
const kafka = new Kafka({ clientId: 'postbox-bench-stock', brokers, logLevel: logLevel.NOTHING })
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
await producer.connect()
const send = (from: number) =>
  producer.sendBatch({
    acks: -1,
    topicMessages: [
      {
        topic,
        messages: messages
          .slice(from, from + batchSize)
          .map((m) => ({ key: m.key, value: m.value, headers: m.headers })),
      },
    ],
  })
try {
  // One warm-up batch connects the producer and fetches metadata outside the timing.
  await send(0)
  const started = performance.now()
  for (let i = 0; i < messages.length; i += batchSize) await send(i)
  const seconds = (performance.now() - started) / 1000
  process.stdout.write(`${JSON.stringify({ perSecond: messages.length / seconds })}\n`)
} finally {
  await producer.disconnect()
}
