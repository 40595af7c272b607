import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import knexFactory, { type Knex } from 'knex'
import pg from 'pg'
import { ConfigError, defineEvent, type SqlClient, ValidationError } from '../../src/index.js'
import { type OrderRow, orderEvent } from '../support/events.js'
import { outboxFor } from '../support/relay.js'
import { createMigratedDatabase, queryRows } from '../support/stack.js'

describe('enqueue inside the caller transaction', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let knex: Knex
  const OrderChanged = orderEvent('enqueue.orders')
  const outbox = outboxFor([OrderChanged])
  const order: OrderRow = { id: 1, customer: 'ada', total_cents: 1250, status: 'new', internal_note: 'vip' }

  before(async () => {
    db = await createMigratedDatabase('pbenqueue')
    knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 4 } })
    await knex.schema.createTable('orders', (t) => {
      t.integer('id').primary()
      t.text('customer')
      t.integer('total_cents')
    })
  })
  after(async () => {
    await knex.destroy()
    await db.drop()
  })

  const outboxRows = () =>
    queryRows<{
      event_type: string
      key: string
      payload: unknown
      headers: Record<string, string>
      status: string
    }>(db.url, 'select event_type, key, payload, headers, status from postbox.outbox order by id')

  test('with a knex transaction the domain row and the outbox row commit together', async () => {
    await knex.transaction(async (trx) => {
      await trx('orders').insert({ id: 1, customer: 'ada', total_cents: 1250 })
      await outbox.enqueue(trx, OrderChanged, order, {
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      })
    })
    const rows = await outboxRows()
    assert.equal(rows.length, 1)
    assert.equal(rows[0]?.key, '1')
    assert.equal(rows[0]?.status, 'pending')
    assert.deepEqual(rows[0]?.payload, order, 'the internal snapshot is stored as given')
    assert.equal(rows[0]?.headers.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')
  })

  test('with a pg client inside BEGIN/COMMIT it joins that transaction', async () => {
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    await client.query('begin')
    await client.query("insert into orders values (2, 'bob', 99)")
    const result = await outbox.enqueue(client, OrderChanged, {
      ...order,
      id: 2,
      customer: 'bob',
      total_cents: 99,
    })
    const seenOutside = await queryRows(db.url, "select 1 from postbox.outbox where key = '2'")
    assert.equal(seenOutside.length, 0, 'invisible to others before commit')
    await client.query('commit')
    await client.end()
    assert.match(
      result.eventId,
      /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      'a UUIDv7',
    )
    assert.equal((await queryRows(db.url, "select 1 from postbox.outbox where key = '2'")).length, 1)
  })

  // SqlClient leaves a pool and the root knex instance out; JavaScript callers and casts still reach enqueue.
  const outsideTransaction = (connection: unknown) => connection as SqlClient
  const refusedBecause = (pattern: RegExp) => (error: unknown) =>
    error instanceof ConfigError && error.code === 'POSTBOX_CONFIG' && pattern.test(error.message)

  test('a pg.Pool is refused with a ConfigError, so a rolled-back transaction leaves no outbox row', async () => {
    const before = (await outboxRows()).length
    const pool = new pg.Pool({ connectionString: db.url, max: 2 })
    const client = await pool.connect()
    try {
      await client.query('begin')
      await client.query("insert into orders values (20, 'eve', 5)")
      await assert.rejects(
        outbox.enqueue(outsideTransaction(pool), OrderChanged, { ...order, id: 20 }),
        refusedBecause(/pg\.Pool.*pg\.Client\/pg\.PoolClient after BEGIN/),
      )
      await client.query('rollback')
    } finally {
      client.release()
      await pool.end()
    }
    assert.equal((await outboxRows()).length, before, 'nothing was written for the rolled-back transaction')
  })

  test('the root knex instance is refused with a ConfigError inside knex.transaction, and nothing is written', async () => {
    const before = (await outboxRows()).length
    await assert.rejects(
      knex.transaction(async (trx) => {
        await trx('orders').insert({ id: 21, customer: 'fay', total_cents: 5 })
        await outbox.enqueue(outsideTransaction(knex), OrderChanged, { ...order, id: 21 })
        throw new Error('business rule failed')
      }),
      refusedBecause(/knex instance.*knex transaction/),
    )
    assert.equal((await outboxRows()).length, before)
    assert.equal((await knex('orders').where({ id: 21 })).length, 0)
  })

  test('a pg client that has not run BEGIN is refused with a ConfigError, and nothing is written', async () => {
    const before = (await outboxRows()).length
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      await assert.rejects(
        outbox.enqueueMany(client, OrderChanged, [{ ...order, id: 22 }]),
        refusedBecause(/not inside a transaction.*BEGIN/),
      )
      await assert.rejects(outbox.tombstone(client, OrderChanged, '22'), refusedBecause(/BEGIN/))
    } finally {
      await client.end()
    }
    assert.equal((await outboxRows()).length, before)
  })

  test('a rolled-back transaction leaves neither the domain row nor the outbox row', async () => {
    const before = (await outboxRows()).length
    await assert.rejects(
      knex.transaction(async (trx) => {
        await trx('orders').insert({ id: 3, customer: 'cy', total_cents: 1 })
        await outbox.enqueue(trx, OrderChanged, { ...order, id: 3 })
        throw new Error('business rule failed')
      }),
      /business rule failed/,
    )
    assert.equal((await outboxRows()).length, before)
    assert.equal((await knex('orders').where({ id: 3 })).length, 0)
  })

  test('input the schema rejects throws a ValidationError naming the event type and field, and nothing is written', async () => {
    const before = (await outboxRows()).length
    const bad = { ...order, id: 4, total_cents: 'lots' } as unknown as OrderRow
    await assert.rejects(
      knex.transaction(async (trx) => {
        await trx('orders').insert({ id: 4, customer: 'di', total_cents: 5 })
        await outbox.enqueue(trx, OrderChanged, bad)
      }),
      (error: unknown) => {
        assert.ok(error instanceof ValidationError)
        assert.equal(error.code, 'POSTBOX_VALIDATION')
        assert.equal(error.eventType, OrderChanged.type)
        assert.equal(error.path, 'totalCents')
        assert.match(error.message, /totalCents/)
        return true
      },
    )
    assert.equal((await outboxRows()).length, before)
    assert.equal((await knex('orders').where({ id: 4 })).length, 0)
  })

  test('a mapping that throws is a ValidationError too', async () => {
    const Broken = defineEvent({
      type: 'broken.mapping',
      topic: 'enqueue.broken',
      key: (o: OrderRow) => String(o.id),
      schema: { type: 'record', name: 'B', fields: [{ name: 'x', type: 'string' }] },
      toExternal: (): { x: string } => {
        throw new Error('no mapping for this row')
      },
    })
    const local = outboxFor([Broken])
    await assert.rejects(
      knex.transaction((trx) => local.enqueue(trx, Broken, order)),
      (error: unknown) => error instanceof ValidationError && /no mapping for this row/.test(error.message),
    )
  })

  test('an event that is not in the catalog is refused', async () => {
    const Stranger = orderEvent('enqueue.stranger')
    await assert.rejects(
      knex.transaction((trx) => outbox.enqueue(trx, Stranger, order)),
      /not in the catalog/,
    )
  })

  test('enqueueMany writes every row in one statement and returns ids in input order', async () => {
    const rows = Array.from({ length: 100 }, (_, i) => ({ ...order, id: 1000 + i }))
    const results = await knex.transaction((trx) => outbox.enqueueMany(trx, OrderChanged, rows))
    assert.equal(results.length, 100)
    const stored = await queryRows<{ id: string; key: string }>(
      db.url,
      `select o.id::text, o.key from postbox.outbox o where o.id = any($1::bigint[]) order by o.id`,
      [results.map((r) => r.id)],
    )
    assert.deepEqual(
      stored.map((r) => r.key),
      rows.map((r) => String(r.id)),
    )
  })

  test('a tombstone stores a null payload under the key', async () => {
    await knex.transaction((trx) => outbox.tombstone(trx, OrderChanged, '42'))
    const rows = await queryRows<{ payload: unknown }>(
      db.url,
      "select payload from postbox.outbox where key = '42'",
    )
    assert.deepEqual(rows, [{ payload: null }])
  })

  test('an empty key is refused', async () => {
    await assert.rejects(
      knex.transaction((trx) => outbox.tombstone(trx, OrderChanged, '')),
      (error: unknown) => error instanceof ValidationError && error.path === '(key)',
    )
  })
})
