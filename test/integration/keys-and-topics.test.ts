import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { Kafka, logLevel } from 'kafkajs'
import knexFactory, { type Knex } from 'knex'
import { RESERVED_HEADERS } from '../../src/catalog/limits.js'
import { defineEvent } from '../../src/index.js'
import { outboxFor, readTopic, startRelay } from '../support/relay.js'
import { createMigratedDatabase, queryRows, stack, uniqueName, waitFor } from '../support/stack.js'

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
      // The subject itself, not the list of all subjects: the registry caps that list (the local
      // registry keeps every subject earlier test runs registered, and lists at most 1,000).
      const versions = await fetch(
        `${stack.registryUrl}/subjects/${encodeURIComponent(`${topic}-key`)}/versions`,
      )
      assert.equal(versions.status, 200)
      assert.deepEqual(await versions.json(), [1])
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

  test('a row with a 6,400-character key (written before the key limit) parks, its key waits, and other keys keep flowing', async () => {
    const topic = uniqueName('longkey')
    const Note = defineEvent({
      type: `note.${topic}`,
      topic,
      key: (n: { k: string; text: string }) => n.k,
      schema: { type: 'record', name: 'Note', fields: [{ name: 'text', type: 'string' }] },
      toExternal: (n: { k: string; text: string }) => ({ text: n.text }),
    })
    const long = randomBytes(3200).toString('hex') // 6,400 characters that do not compress
    const write = (key: string, payload: unknown) =>
      queryRows<{ id: string }>(
        db.url,
        `insert into postbox.outbox (event_id, event_type, topic, key, payload)
         values (gen_random_uuid(), $1, $2, $3, $4::jsonb) returning id::text`,
        [Note.type, topic, key, JSON.stringify(payload)],
      ).then(([row]) => row?.id ?? '')
    // Plain SQL, as rows written before enqueue capped keys: the mapping rejects the first one.
    const poison = await write(long, { k: long, text: 42 })
    await write('a', { k: 'a', text: 'a1' })
    const waiting = await write(long, { k: long, text: 'L2' })
    await write('b', { k: 'b', text: 'b1' })
    const status = async (id: string) =>
      (
        await queryRows<{ status: string }>(db.url, 'select status from postbox.outbox where id = $1', [id])
      )[0]?.status
    // A write transaction open in any database of the server holds the claim horizon: wait long.
    const patience = 120_000
    const relay = await startRelay(db.url, [Note])
    try {
      await waitFor(
        'the long-key row parked',
        async () => ((await status(poison)) === 'parked' ? true : undefined),
        patience,
      )
      await knex.transaction((trx) =>
        outboxFor([Note]).enqueue(trx, Note, { k: 'c', text: 'c1' }, { headers: { tenant: 't1' } }),
      )
      const records = await waitFor(
        'a1, b1 and c1 published',
        async () => {
          const r = await readTopic(topic)
          return r.length >= 3 ? r : undefined
        },
        patience,
      )
      assert.deepEqual(records.map((r) => [r.key, (r.value as { text: string }).text]).sort(), [
        ['a', 'a1'],
        ['b', 'b1'],
        ['c', 'c1'],
      ])
      assert.equal(await status(waiting), 'pending', 'the later row of the parked key waits behind it')
      for (const record of records) {
        const own = Object.keys(record.headers).filter((name) => name !== 'tenant')
        assert.deepEqual(
          own.filter((name) => !RESERVED_HEADERS.includes(name)),
          [],
          'every header the relay sets is a name enqueue refuses',
        )
      }
    } finally {
      await relay.stop()
    }
  })
})
