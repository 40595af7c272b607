import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Kafka, logLevel } from 'kafkajs'
import { stack, uniqueName } from '../support/stack.js'

/** The broker the stack script starts really speaks Kafka to kafkajs. */
describe('Kafka broker smoke', () => {
  const kafka = new Kafka({ clientId: 'smoke', brokers: stack.brokers, logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  const topic = uniqueName('smoke')

  before(async () => {
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
  })
  after(async () => admin.disconnect())

  async function consumeAll(count: number, readUncommitted = false): Promise<string[]> {
    const consumer = kafka.consumer({ groupId: uniqueName('g'), readUncommitted })
    const seen: string[] = []
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${seen.length} of ${count} messages`)), 20_000)
      void consumer.run({
        eachMessage: async ({ message }) => {
          seen.push(message.value?.toString() ?? 'null')
          if (seen.length >= count) {
            clearTimeout(timer)
            resolve()
          }
        },
      })
    })
    await consumer.disconnect()
    return seen
  }

  test('a plain producer and an idempotent producer publish, a consumer reads them back in order', async () => {
    const plain = kafka.producer()
    await plain.connect()
    await plain.send({ topic, messages: [{ key: 'k', value: 'plain-1' }] })
    await plain.disconnect()
    const idempotent = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await idempotent.connect()
    await idempotent.send({
      topic,
      acks: -1,
      messages: [
        { key: 'k', value: 'idem-1' },
        { key: 'k', value: 'idem-2' },
      ],
    })
    await idempotent.disconnect()
    assert.deepEqual(await consumeAll(3), ['plain-1', 'idem-1', 'idem-2'])
  })

  test('a Kafka transaction commits atomically and an aborted one stays invisible to read_committed', async () => {
    const producer = kafka.producer({
      transactionalId: uniqueName('tx'),
      idempotent: true,
      maxInFlightRequests: 1,
    })
    await producer.connect()
    const aborted = await producer.transaction()
    await aborted.send({ topic, messages: [{ key: 'k', value: 'aborted' }] })
    await aborted.abort()
    const committed = await producer.transaction()
    await committed.send({ topic, messages: [{ key: 'k', value: 'tx-1' }] })
    await committed.commit()
    await producer.disconnect()
    const seen = await consumeAll(4)
    assert.deepEqual(seen, ['plain-1', 'idem-1', 'idem-2', 'tx-1'])
  })
})
