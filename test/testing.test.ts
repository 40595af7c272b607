import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import knexFactory, { type Knex } from 'knex'
import pg from 'pg'
import { outboxRowsIn, waitForPublished } from '../src/testing.js'
import { type OrderRow, orderEvent } from './support/events.js'
import { outboxFor, startRelay } from './support/relay.js'
import { createMigratedDatabase, stack, uniqueName } from './support/stack.js'

describe('postbox/testing helps applications test their own code', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let knex: Knex
  const connection = { brokers: stack.brokers, registryUrl: stack.registryUrl }

  before(async () => {
    db = await createMigratedDatabase('pbtesting')
    knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 4 } })
  })
  after(async () => {
    await knex.destroy()
    await db.drop()
  })

  const order = (id: number): OrderRow => ({
    id,
    customer: `customer-${id}`,
    total_cents: id * 100,
    status: 'new',
  })

  test('outboxRowsIn returns the rows a knex transaction wrote so far, in order, and none of other transactions', async () => {
    const Placed = orderEvent(uniqueName('testing.placed'))
    const Other = orderEvent(uniqueName('testing.other'))
    const outbox = outboxFor([Placed, Other])
    await knex.transaction((trx) => outbox.enqueue(trx, Placed, order(99)))

    await knex
      .transaction(async (trx) => {
        assert.deepEqual(await outboxRowsIn(trx), [], 'a transaction that wrote nothing has no rows')
        const first = await outbox.enqueue(trx, Placed, order(1), { headers: { tenant: 't1' } })
        await outbox.tombstone(trx, Placed, '2')
        await outbox.enqueue(trx, Other, order(3))

        const rows = await outboxRowsIn(trx)
        assert.deepEqual(
          rows.map((r) => [r.eventType, r.key, r.payload === null ? 'tombstone' : 'upsert']),
          [
            [Placed.type, '1', 'upsert'],
            [Placed.type, '2', 'tombstone'],
            [Other.type, '3', 'upsert'],
          ],
        )
        assert.equal(rows[0]?.id, first.id)
        assert.equal(rows[0]?.eventId, first.eventId)
        assert.equal(rows[0]?.topic, Placed.topic)
        assert.deepEqual(rows[0]?.payload, order(1))
        assert.deepEqual(rows[0]?.headers, { tenant: 't1' })
        assert.ok(rows[0]?.createdAt instanceof Date)

        assert.deepEqual(
          (await outboxRowsIn(trx, { eventType: Other.type })).map((r) => r.key),
          ['3'],
        )
        assert.deepEqual(
          (await outboxRowsIn(trx, { topic: Placed.topic })).map((r) => r.key),
          ['1', '2'],
        )
        throw new Error('roll back')
      })
      .catch((error: Error) => assert.equal(error.message, 'roll back'))
  })

  test('outboxRowsIn works with a pg client inside BEGIN', async () => {
    const Placed = orderEvent(uniqueName('testing.pg'))
    const outbox = outboxFor([Placed])
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      await client.query('begin')
      await outbox.enqueueMany(client, Placed, [order(1), order(2)])
      assert.deepEqual(
        (await outboxRowsIn(client)).map((r) => r.key),
        ['1', '2'],
      )
      await client.query('rollback')
    } finally {
      await client.end()
    }
  })

  test('waitForPublished returns the decoded events once the relay has published them', async () => {
    const Placed = orderEvent(uniqueName('testing.published'))
    const outbox = outboxFor([Placed])
    const relay = await startRelay(db.url, [Placed])
    try {
      await knex.transaction((trx) => outbox.enqueueMany(trx, Placed, [order(1), order(2), order(3)]))
      const events = await waitForPublished(connection, Placed.topic, { count: 3 })
      assert.deepEqual(events.map((e) => e.key).sort(), ['1', '2', '3'])
      assert.deepEqual(events.find((e) => e.key === '2')?.value, {
        orderId: '2',
        customer: 'customer-2',
        totalCents: 200,
        version: 0,
      })

      const onlyTwo = await waitForPublished(connection, Placed.topic, { where: (e) => e.key === '2' })
      assert.deepEqual(
        onlyTwo.map((e) => e.key),
        ['2'],
      )
    } finally {
      await relay.stop()
    }
  })

  test('waitForPublished fails after its timeout, saying how many events it saw', async () => {
    const topic = uniqueName('testing.nothing')
    await assert.rejects(
      waitForPublished(connection, topic, { count: 1, timeoutMs: 1500 }),
      /waited 1500 ms for 1 event\(s\) on testing\.nothing\S+, saw 0/,
    )
  })
})
