import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry'
import knexFactory, { type Knex } from 'knex'
import { silentLogger } from '../../src/observe/logger.js'
import type { BatchReport } from '../../src/relay/relay.js'
import { Relay, resolveConfig } from '../../src/relay-api.js'
import { type OrderRow, orderEvent, orderSchemaV1 } from '../support/events.js'
import { outboxFor, readTopic, relaySettings, startRelay } from '../support/relay.js'
import { createMigratedDatabase, queryRows, stack, uniqueName, waitFor } from '../support/stack.js'

describe('relay publishes committed outbox rows to Kafka', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let knex: Knex
  const registry = new SchemaRegistry({ host: stack.registryUrl })

  before(async () => {
    db = await createMigratedDatabase('pbrelay')
    knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 4 } })
  })
  after(async () => {
    await knex.destroy()
    await db.drop()
  })

  const order = (id: number, extra: Partial<OrderRow> = {}): OrderRow => ({
    id,
    customer: `customer-${id}`,
    total_cents: id * 100,
    status: 'new',
    internal_note: 'internal only',
    ...extra,
  })

  const pendingCount = async () =>
    (
      await queryRows<{ n: number }>(
        db.url,
        "select count(*)::int as n from postbox.outbox where status = 'pending'",
      )
    )[0]?.n ?? -1

  test('the bytes in Kafka decode through the registry to exactly the mapped record, with the right key, schema id and headers', async () => {
    const topic = uniqueName('relay.mapped')
    const OrderChanged = orderEvent(topic)
    const outbox = outboxFor([OrderChanged])
    const relay = await startRelay(db.url, [OrderChanged])
    try {
      const result = await knex.transaction((trx) =>
        outbox.enqueue(trx, OrderChanged, order(7), {
          traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        }),
      )
      const [published] = await waitFor('one record', async () => {
        const r = await readTopic(topic)
        return r.length === 1 ? r : undefined
      })
      assert.ok(published)
      assert.equal(published.key, '7')
      assert.deepEqual(
        { ...(published.value as object) },
        {
          orderId: '7',
          customer: 'customer-7',
          totalCents: 700,
          version: 0,
        },
      )
      assert.ok(!('internal_note' in (published.value as object)), 'unmapped columns never leave')
      assert.equal(published.schemaId, await registry.getLatestSchemaId(`${topic}-value`))
      assert.equal(published.headers['event-id'], result.eventId)
      assert.equal(published.headers['event-type'], OrderChanged.type)
      assert.equal(published.headers['outbox-id'], result.id)
      assert.equal(published.headers.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')
      assert.equal(published.headers['content-type'], 'application/vnd.apache.avro+binary')
      assert.ok(!Number.isNaN(Date.parse(published.headers['created-at'] ?? '')))
      const rows = await waitFor('row marked sent', async () => {
        const r = await queryRows<{ status: string; sent_at: Date | null }>(
          db.url,
          'select status, sent_at from postbox.outbox where id = $1',
          [result.id],
        )
        return r[0]?.status === 'sent' ? r : undefined
      })
      assert.ok(rows[0]?.sent_at instanceof Date)
    } finally {
      await relay.stop()
    }
  })

  test('a tombstone is a null value under the key, and a rolled-back transaction publishes nothing', async () => {
    const topic = uniqueName('relay.tomb')
    const OrderChanged = orderEvent(topic)
    const outbox = outboxFor([OrderChanged])
    const relay = await startRelay(db.url, [OrderChanged])
    try {
      await knex.transaction((trx) => outbox.enqueue(trx, OrderChanged, order(1)))
      await assert.rejects(
        knex.transaction(async (trx) => {
          await outbox.enqueue(trx, OrderChanged, order(666))
          throw new Error('rollback')
        }),
      )
      await knex.transaction((trx) => outbox.tombstone(trx, OrderChanged, '1'))
      const records = await waitFor('upsert and tombstone', async () => {
        const r = await readTopic(topic)
        return r.length >= 2 && (await pendingCount()) === 0 ? r : undefined
      })
      assert.deepEqual(
        records.map((r) => [r.key, r.value === null ? null : 'value']),
        [
          ['1', 'value'],
          ['1', null],
        ],
      )
      assert.ok(!records.some((r) => r.key === '666'), 'the rolled-back event never reached Kafka')
    } finally {
      await relay.stop()
    }
  })

  test('1,000 events over 50 keys all arrive, each key in the order it was written', async () => {
    const topic = uniqueName('relay.order')
    const OrderChanged = orderEvent(topic)
    const outbox = outboxFor([OrderChanged])
    const relay = await startRelay(db.url, [OrderChanged], { batchSize: 100 })
    try {
      for (let round = 0; round < 20; round++) {
        const rows = Array.from({ length: 50 }, (_, k) => order(k, { version: round }))
        await knex.transaction((trx) => outbox.enqueueMany(trx, OrderChanged, rows))
      }
      const records = await waitFor(
        '1000 records',
        async () => {
          const r = await readTopic(topic)
          return r.length >= 1000 ? r : undefined
        },
        60_000,
      )
      assert.equal(records.length, 1000)
      const versionsByKey = new Map<string, number[]>()
      for (const r of records) {
        const list = versionsByKey.get(String(r.key)) ?? []
        list.push((r.value as { version: number }).version)
        versionsByKey.set(String(r.key), list)
      }
      assert.equal(versionsByKey.size, 50)
      for (const [key, versions] of versionsByKey) {
        assert.deepEqual(versions, [...Array(20).keys()], `key ${key} in order`)
      }
      await waitFor('all marked sent', async () => ((await pendingCount()) === 0 ? true : undefined))
    } finally {
      await relay.stop()
    }
  })

  test('a NOTIFY wakes the relay: with polling set to ten minutes, the row is published after a notification', async () => {
    const topic = uniqueName('relay.listen')
    const OrderChanged = orderEvent(topic)
    const outbox = outboxFor([OrderChanged])
    const batches: BatchReport[] = []
    const relay = new Relay(
      resolveConfig(
        relaySettings(db.url, [OrderChanged], { pollIntervalMs: 600_000, minPollIntervalMs: 600_000 }),
      ),
      { logger: silentLogger, hooks: { onBatch: (b) => batches.push(b) } },
    )
    await relay.start()
    try {
      await knex.transaction((trx) => outbox.enqueue(trx, OrderChanged, order(1)))
      await waitFor('first batch', async () => (batches.length >= 1 ? true : undefined))
      await knex.transaction((trx) => outbox.enqueue(trx, OrderChanged, order(2)))
      await waitFor('second record', async () => ((await readTopic(topic)).length === 2 ? true : undefined))
      assert.equal(batches.at(-1)?.trigger, 'notify')
      assert.equal(batches.at(-1)?.published, 1)
    } finally {
      await relay.stop()
    }
  })

  test('adding an optional field with a default registers version 2 under BACKWARD, and a version-1 reader still decodes', async () => {
    const topic = uniqueName('relay.evolve')
    const V1 = orderEvent(topic)
    const v2Schema = {
      ...orderSchemaV1,
      fields: [...orderSchemaV1.fields, { name: 'currency', type: 'string', default: 'EUR' }],
    }
    const V2 = orderEvent(topic, v2Schema, { currency: 'USD' })
    const relay1 = await startRelay(db.url, [V1])
    await knex.transaction((trx) => outboxFor([V1]).enqueue(trx, V1, order(1)))
    await waitFor('v1 record', async () => ((await readTopic(topic)).length === 1 ? true : undefined))
    await relay1.stop()

    const relay2 = await startRelay(db.url, [V2])
    try {
      await knex.transaction((trx) => outboxFor([V2]).enqueue(trx, V2, order(2)))
      const records = await waitFor('v2 record', async () => {
        const r = await readTopic(topic)
        return r.length === 2 ? r : undefined
      })
      const versions = (await (
        await fetch(`${stack.registryUrl}/subjects/${topic}-value/versions`)
      ).json()) as number[]
      assert.equal(versions.length, 2)
      const first = records.find((r) => r.key === '1')
      const second = records.find((r) => r.key === '2')
      assert.ok(first && second)
      assert.notEqual(first.schemaId, second.schemaId)
      assert.equal((second.value as { currency: string }).currency, 'USD')

      const rawV2 = await readRaw(topic, '2')
      const asV1 = await registry.decode(rawV2, {
        [SchemaType.AVRO]: { readerSchema: orderSchemaV1 as never },
      })
      assert.deepEqual({ ...asV1 }, { orderId: '2', customer: 'customer-2', totalCents: 200, version: 0 })
    } finally {
      await relay2.stop()
    }
  })

  test('with auto-register off, a schema missing from the registry is a clear start-up error', async () => {
    const topic = uniqueName('relay.noreg')
    const OrderChanged = orderEvent(topic)
    const relay = new Relay(resolveConfig(relaySettings(db.url, [OrderChanged], { autoRegister: false })), {
      logger: silentLogger,
    })
    await assert.rejects(relay.start(), (error: unknown) => {
      assert.match(String((error as Error).message), /not registered.*postbox schemas register.*autoRegister/)
      return true
    })
    await relay.stop()
  })
})

async function readRaw(topic: string, key: string): Promise<Buffer> {
  const { kafkaClient } = await import('../../src/kafka/client.js')
  const records = await kafkaClient(stack.brokers, 'raw-reader', silentLogger).readTopic(topic)
  const value = records.find((r) => r.key?.toString() === key)?.value
  assert.ok(value)
  return value
}
