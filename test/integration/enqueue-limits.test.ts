import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import knexFactory, { type Knex } from 'knex'
import { ConfigError, createOutbox, defineEvent, ValidationError } from '../../src/index.js'
import { type OrderRow, orderEvent } from '../support/events.js'
import { outboxFor } from '../support/relay.js'
import { createMigratedDatabase } from '../support/stack.js'

/** Sizes enqueue refuses, so the relay never holds or claims what it cannot publish. */
describe('enqueue limits on keys, payloads and headers', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let knex: Knex
  const OrderChanged = orderEvent('limits.orders')
  const outbox = outboxFor([OrderChanged])
  const order: OrderRow = { id: 1, customer: 'ada', total_cents: 1250, status: 'new' }

  before(async () => {
    db = await createMigratedDatabase('pblimits')
    knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 2 } })
  })
  after(async () => {
    await knex.destroy()
    await db.drop()
  })

  const rowCount = async () => Number((await knex('postbox.outbox').count<{ count: string }[]>())[0]?.count)

  /** The write is refused with a ValidationError naming the event type and `path`, and leaves no row. */
  async function refused(
    write: (trx: Knex.Transaction) => Promise<unknown>,
    path: string,
    message: RegExp,
    eventType = OrderChanged.type,
  ) {
    const before = await rowCount()
    await assert.rejects(
      knex.transaction((trx) => write(trx)),
      (error: unknown) => {
        assert.ok(error instanceof ValidationError, String(error))
        assert.equal(error.eventType, eventType)
        assert.equal(error.path, path)
        assert.match(error.message, message)
        assert.ok(error.message.startsWith(`${eventType}: `), 'the message names the event type')
        return true
      },
    )
    assert.equal(await rowCount(), before, 'nothing is written')
  }

  test('a key of up to 1024 UTF-8 bytes is stored; one byte more is refused, for upserts and tombstones', async () => {
    const KeyedByCustomer = defineEvent({
      type: 'limits.keyed',
      topic: 'limits.keyed',
      key: (o: OrderRow) => o.customer,
      schema: { type: 'record', name: 'K', fields: [{ name: 'id', type: 'long' }] },
      toExternal: (o: OrderRow) => ({ id: o.id }),
    })
    const local = outboxFor([KeyedByCustomer])
    const atLimit = 'k'.repeat(1024)
    await knex.transaction((trx) => local.enqueue(trx, KeyedByCustomer, { ...order, customer: atLimit }))
    assert.equal((await knex('postbox.outbox').where({ key: atLimit })).length, 1)

    await refused(
      (trx) => local.enqueue(trx, KeyedByCustomer, { ...order, customer: 'k'.repeat(1025) }),
      '(key)',
      /1025 bytes, over the limit of 1024/,
      KeyedByCustomer.type,
    )
    // 342 characters, 1026 bytes: the limit counts bytes.
    await refused(
      (trx) => local.tombstone(trx, KeyedByCustomer, '€'.repeat(342)),
      '(key)',
      /1026 bytes/,
      KeyedByCustomer.type,
    )
  })

  test('a stored snapshot over maxPayloadBytes is refused even when toExternal drops the large field', async () => {
    const large = { ...order, internal_note: 'n'.repeat(1_100_000) }
    await refused(
      (trx) => outbox.enqueue(trx, OrderChanged, large),
      '(size)',
      /stored snapshot is 11\d{5} bytes of JSON, over maxPayloadBytes 1048576/,
    )
    const roomy = createOutbox({ events: [OrderChanged], maxPayloadBytes: 2 * 1_048_576 })
    await knex.transaction((trx) => roomy.enqueue(trx, OrderChanged, large))
  })

  test('headers over 16 KiB together are refused', async () => {
    await refused(
      (trx) => outbox.enqueue(trx, OrderChanged, order, { headers: { note: 'h'.repeat(16_381) } }),
      '(headers)',
      /the headers are 16385 bytes, over the limit of 16384/,
    )
    await refused(
      (trx) =>
        outbox.enqueue(trx, OrderChanged, order, { headers: { a: 'h'.repeat(9000), b: 'h'.repeat(9000) } }),
      '(headers)',
      /over the limit of 16384/,
    )
  })

  for (const name of [
    'event-id',
    'event-type',
    'outbox-id',
    'created-at',
    'content-type',
    'replay-of',
    'traceparent',
    'Content-Type',
  ]) {
    test(`the header name "${name}" is reserved and refused`, async () => {
      await refused(
        (trx) => outbox.tombstone(trx, OrderChanged, '1', { headers: { [name]: 'x' } }),
        `(headers).${name}`,
        /is reserved/,
      )
    })
  }

  test('headers that are not an object of strings are refused', async () => {
    for (const headers of ['tenant=t1', ['t1'], 7]) {
      await refused(
        (trx) =>
          outbox.enqueue(trx, OrderChanged, order, { headers: headers as unknown as Record<string, string> }),
        '(headers)',
        /headers must be an object/,
      )
    }
  })

  test('maxMessageBytes counts the key and the headers as well as the encoded value', async () => {
    const small = createOutbox({ events: [OrderChanged], maxMessageBytes: 100 })
    await knex.transaction((trx) => small.enqueue(trx, OrderChanged, order))
    await refused(
      (trx) => small.enqueue(trx, OrderChanged, order, { headers: { note: 'h'.repeat(90) } }),
      '(size)',
      /the record is 109 bytes \(value 14, key 1, headers 94\), over maxMessageBytes 100/,
    )
    await refused(
      (trx) => small.tombstone(trx, OrderChanged, 'k'.repeat(101)),
      '(size)',
      /value 0, key 101, headers 0/,
    )
  })

  test('limits that are not positive whole numbers are a ConfigError', () => {
    assert.throws(() => createOutbox({ events: [OrderChanged], maxPayloadBytes: 0 }), ConfigError)
    assert.throws(() => createOutbox({ events: [OrderChanged], maxMessageBytes: 1.5 }), ConfigError)
  })
})
