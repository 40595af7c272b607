import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { stack, uniqueName } from '../support/stack.js'

// Node 24 warns about every timer given a negative delay, and kafkajs 2.2.4 sets one for each
// idle connection (tulios/kafkajs#1751). The Kafka module keeps those delays non-negative, so a
// relay's log stays free of the warning on every supported Node version (CI runs this on 24).
test('publishing through the Kafka module prints no TimeoutNegativeWarning', () => {
  const topic = uniqueName('warnings')
  const script = `
    import { kafkaClient } from './src/kafka/client.ts'
    import { silentLogger } from './src/observe/logger.ts'
    const kafka = kafkaClient(${JSON.stringify(stack.brokers)}, 'postbox-warnings', silentLogger)
    await kafka.ensureTopics([{ topic: ${JSON.stringify(topic)}, cleanupPolicy: 'delete', partitions: 1 }])
    const producer = kafka.producer()
    const [delivery] = await producer.send([{ topic: ${JSON.stringify(topic)}, key: Buffer.from('k'), value: Buffer.from('v'), headers: {} }])
    await producer.close()
    console.log(JSON.stringify(delivery))
  `
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 120_000,
  })
  assert.equal(result.status, 0, result.stderr)
  assert.deepEqual(JSON.parse(result.stdout.trim()), { partition: 0, offset: '0' })
  assert.doesNotMatch(result.stderr, /TimeoutNegativeWarning/)
})
