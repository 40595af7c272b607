import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Kafka, logLevel } from 'kafkajs'
import knexFactory, { type Knex } from 'knex'
import { defineEvent } from '../../src/index.js'
import { outboxFor, readTopic, startRelay } from '../support/relay.js'
import { createMigratedDatabase, stack, uniqueName, waitFor } from '../support/stack.js'

interface Line {
  order_id: number
  line_no: number
  sku: string
}

const keySchema = {
  type: 'record',
  name: 'OrderLineKey',
  namespace: 'test.lines',
  fields: [
    { name: 'orderId', type: 'long' },
    { name: 'lineNo', type: 'int' },
  ],
}
const valueSchema = {
  type: 'record',
  name: 'OrderLine',
  namespace: 'test.lines',
  fields: [{ name: 'sku', type: 'string' }],
}

describe('Avro keys and topic settings', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let knex: Knex
  before(async () => {
    db = await createMigratedDatabase('pbkeys')
    knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 2 } })
  })
  after(async () => {
    await knex.destroy()
    await db.drop()
  })

  test('an Avro key schema registers under <topic>-key and the key decodes through the registry, tombstones included', async () => {
    const topic = uniqueName('lines')
    const LineChanged = defineEvent({
      type: `line.changed.${topic}`,
      topic,
      key: (l: Line) => ({ orderId: l.order_id, lineNo: l.line_no }),
      keySchema,
      schema: valueSchema,
      toExternal: (l: Line) => ({ sku: l.sku }),
    })
    const outbox = outboxFor([LineChanged])
    const relay = await startRelay(db.url, [LineChanged])
    try {
      await knex.transaction(async (trx) => {
        await outbox.enqueue(trx, LineChanged, { order_id: 7, line_no: 2, sku: 'A-1' })
        await outbox.tombstone(trx, LineChanged, { orderId: 7, lineNo: 2 })
      })
      const records = await waitFor('two records', async () => {
        const r = await readTopic(topic, { avroKey: true })
        return r.length === 2 ? r : undefined
      })
      assert.deepEqual(
        records.map((r) => [{ ...(r.key as object) }, r.value === null ? null : { ...(r.value as object) }]),
        [
          [{ orderId: 7, lineNo: 2 }, { sku: 'A-1' }],
          [{ orderId: 7, lineNo: 2 }, null],
        ],
      )
      const subjects = (await (await fetch(`${stack.registryUrl}/subjects`)).json()) as string[]
      assert.ok(subjects.includes(`${topic}-key`))
    } finally {
      await relay.stop()
    }
  })

  test('topics the relay creates get the cleanup.policy of their events: compact by default, delete when asked', async () => {
    const compacted = uniqueName('entity')
    const logged = uniqueName('log')
    const schema = { type: 'record', name: 'E', fields: [{ name: 'x', type: 'string' }] }
    const Entity = defineEvent({
      type: compacted,
      topic: compacted,
      key: (x: { x: string }) => x.x,
      schema,
      toExternal: (x: { x: string }) => x,
    })
    const Logged = defineEvent({
      type: logged,
      topic: logged,
      key: (x: { x: string }) => x.x,
      schema,
      toExternal: (x: { x: string }) => x,
      cleanupPolicy: 'delete',
    })
    const relay = await startRelay(db.url, [Entity, Logged])
    await relay.stop()
    const admin = new Kafka({ brokers: stack.brokers, logLevel: logLevel.NOTHING }).admin()
    await admin.connect()
    try {
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [compacted, logged].map((name) => ({ type: 2, name, configNames: ['cleanup.policy'] })),
      })
      const policy = (name: string) =>
        resources
          .find((r) => r.resourceName === name)
          ?.configEntries.find((c) => c.configName === 'cleanup.policy')?.configValue
      assert.equal(policy(compacted), 'compact')
      assert.equal(policy(logged), 'delete')
    } finally {
      await admin.disconnect()
    }
  })
})
