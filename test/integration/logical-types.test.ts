import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import knexFactory, { type Knex } from 'knex'
import { defineEvent, ValidationError } from '../../src/index.js'
import { outboxFor, readTopic, startRelay } from '../support/relay.js'
import { createMigratedDatabase, queryRows, uniqueName, waitFor } from '../support/stack.js'

const schema = {
  type: 'record',
  name: 'Payment',
  namespace: 'test.logical',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'paidAt', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'settledAt', type: { type: 'long', logicalType: 'timestamp-micros' } },
    { name: 'bookedOn', type: { type: 'int', logicalType: 'date' } },
    { name: 'cutoff', type: { type: 'int', logicalType: 'time-millis' } },
    { name: 'amount', type: { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 } },
    {
      name: 'balance',
      type: { type: 'fixed', name: 'Balance', size: 8, logicalType: 'decimal', precision: 18, scale: 3 },
    },
    { name: 'reference', type: { type: 'string', logicalType: 'uuid' } },
  ],
} as const

interface PaymentRow {
  id: string
  values: Record<string, unknown>
}

/** Each value as it reaches Kafka, read by a consumer that knows no logical types (the wire form). */
const expectedWire = {
  paidAt: 1704164645678, // 2024-01-02T03:04:05.678Z in milliseconds
  settledAt: 1704164645678901, // …05.678901Z in microseconds
  bookedOn: 19782, // 2024-02-29 in days since 1970-01-01
  cutoff: 47655500, // 13:14:15.500 in milliseconds after midnight
  amount: Buffer.from('fb32', 'hex'), // -12.30 → unscaled -1230, two's complement
  balance: (() => {
    const b = Buffer.alloc(8)
    b.writeBigInt64BE(123456789012345000n) // 123456789012345.000 → unscaled, 8 bytes
    return b
  })(),
  reference: '123e4567-e89b-12d3-a456-426614174000',
}

describe('Avro logical types encode from natural JavaScript values', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let knex: Knex

  before(async () => {
    db = await createMigratedDatabase('pblogical')
    knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 2 } })
  })
  after(async () => {
    await knex.destroy()
    await db.drop()
  })

  const paymentEvent = (topic: string, seen: Record<string, string>[] = []) =>
    defineEvent({
      type: `payment.${topic}`,
      topic,
      key: (p: PaymentRow) => p.id,
      schema,
      toExternal: (p: PaymentRow) => {
        seen.push(Object.fromEntries(Object.entries(p.values).map(([k, v]) => [k, kindOf(v)])))
        return { id: p.id, ...p.values }
      },
    })

  test('Dates, bigints and numbers, and ISO and numeric strings, publish the same Avro values, read back through the registry', async () => {
    const topic = uniqueName('logical.all')
    const Payment = paymentEvent(topic)
    const outbox = outboxFor([Payment])
    const relay = await startRelay(db.url, [Payment])
    try {
      await knex.transaction(async (trx) => {
        await outbox.enqueue(trx, Payment, {
          id: 'natural',
          values: {
            paidAt: new Date('2024-01-02T03:04:05.678Z'),
            settledAt: 1704164645678901n,
            bookedOn: new Date('2024-02-29T00:00:00Z'),
            cutoff: 47655500,
            amount: -12.3,
            balance: 123456789012345n,
            reference: '123e4567-e89b-12d3-a456-426614174000',
          },
        })
        await outbox.enqueue(trx, Payment, {
          id: 'strings',
          values: {
            paidAt: '2024-01-02T04:04:05.678+01:00',
            settledAt: '2024-01-02T03:04:05.678901Z',
            bookedOn: '2024-02-29',
            cutoff: '13:14:15.5',
            amount: '-12.30',
            balance: '123456789012345.000',
            reference: expectedWire.reference,
          },
        })
      })
      const published = await waitFor('two records', async () => {
        const r = await readTopic(topic)
        return r.length === 2 ? r : undefined
      })
      assert.deepEqual(
        published.map((p) => p.value),
        [
          { id: 'natural', ...expectedWire },
          { id: 'strings', ...expectedWire },
        ],
      )
    } finally {
      await relay.stop()
    }
  })

  test('toExternal receives a Date as a Date and a bigint as a bigint, at enqueue and in the relay', async () => {
    const topic = uniqueName('logical.types')
    const seen: Record<string, string>[] = []
    const Payment = paymentEvent(topic, seen)
    const outbox = outboxFor([Payment])
    const relay = await startRelay(db.url, [Payment])
    try {
      await knex.transaction((trx) =>
        outbox.enqueue(trx, Payment, {
          id: 'p1',
          values: {
            paidAt: new Date('2024-01-02T03:04:05.678Z'),
            settledAt: 1704164645678901n,
            bookedOn: '2024-02-29',
            cutoff: 47655500,
            amount: '-12.30',
            balance: 123456789012345n,
            reference: expectedWire.reference,
          },
        }),
      )
      await waitFor('the record', async () => ((await readTopic(topic)).length === 1 ? true : undefined))
      const expected = {
        paidAt: 'Date',
        settledAt: 'bigint',
        bookedOn: 'string',
        cutoff: 'number',
        amount: 'string',
        balance: 'bigint',
        reference: 'string',
      }
      assert.deepEqual(seen, [expected, expected], 'once at enqueue, once when the relay published')
      const [stored] = await queryRows<{ payload: { values: Record<string, unknown> } }>(
        db.url,
        'select payload from postbox.outbox where key = $1',
        ['p1'],
      )
      assert.deepEqual(stored?.payload.values.paidAt, { '$postbox:date': '2024-01-02T03:04:05.678Z' })
      assert.deepEqual(stored?.payload.values.balance, { '$postbox:bigint': '123456789012345' })
    } finally {
      await relay.stop()
    }
  })

  for (const [field, value, expectation] of [
    ['paidAt', 'yesterday', /paidAt must be a Date, an ISO 8601 date-time string.*\(timestamp-millis\)/],
    ['settledAt', 1.5, /settledAt must be .*whole microseconds/],
    ['bookedOn', '2023-02-29', /bookedOn must be a Date \(its UTC day\), a "YYYY-MM-DD" string/],
    ['cutoff', '25:00', /cutoff must be an "HH:MM\[:SS\[\.fff\]\]" string/],
    ['amount', '12.345', /amount must be .* at most 10 digits, 2 after the point \(decimal\(10, 2\)\)/],
    ['balance', 1e30, /balance must be .*decimal\(18, 3\)/],
    ['reference', 'not-a-uuid', /reference must be a UUID string/],
  ] as const) {
    test(`${field}: a value its logical type cannot represent (${String(value)}) is a ValidationError naming the field and what it accepts`, async () => {
      const topic = uniqueName('logical.invalid')
      const Payment = paymentEvent(topic)
      const outbox = outboxFor([Payment])
      const valid = {
        paidAt: 0,
        settledAt: 0,
        bookedOn: 0,
        cutoff: 0,
        amount: '0',
        balance: '0',
        reference: expectedWire.reference,
      }
      await assert.rejects(
        knex.transaction((trx) =>
          outbox.enqueue(trx, Payment, { id: 'bad', values: { ...valid, [field]: value } }),
        ),
        (error: unknown) =>
          error instanceof ValidationError && error.path === field && expectation.test(error.message),
      )
      const rows = await queryRows(db.url, 'select 1 from postbox.outbox where topic = $1', [topic])
      assert.equal(rows.length, 0)
    })
  }
})

function kindOf(value: unknown): string {
  if (value instanceof Date) return 'Date'
  return typeof value
}
