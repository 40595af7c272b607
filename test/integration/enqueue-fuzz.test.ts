import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import fc from 'fast-check'
import knexFactory, { type Knex } from 'knex'
import { PostboxError } from '../../src/index.js'
import { type OrderRow, orderEvent } from '../support/events.js'
import { outboxFor } from '../support/relay.js'
import { createMigratedDatabase, uniqueName } from '../support/stack.js'

const HUGE = 'x'.repeat(1_100_000)

/** Random bad input never escapes as anything but a typed error, and never leaves a row behind. */
describe('enqueue under random input', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let knex: Knex
  const Event = orderEvent(uniqueName('fuzz'))
  const outbox = outboxFor([Event])

  before(async () => {
    db = await createMigratedDatabase('pbfuzz')
    knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 2 } })
  })
  after(async () => {
    await knex.destroy()
    await db.drop()
  })

  const rowCount = async () => Number((await knex('postbox.outbox').count<{ count: string }[]>())[0]?.count)

  /** Runs `write` in a transaction that also inserts a marker; the marker must vanish when write throws. */
  async function attempt(write: (trx: Knex.Transaction) => Promise<unknown>): Promise<'written' | 'refused'> {
    const before = await rowCount()
    try {
      await knex.transaction(async (trx) => {
        await write(trx)
      })
    } catch (error) {
      assert.ok(error instanceof PostboxError, `expected a typed PostboxError, got ${String(error)}`)
      assert.equal(await rowCount(), before, 'a refused enqueue leaves zero rows')
      return 'refused'
    }
    assert.equal(await rowCount(), before + 1)
    return 'written'
  }

  const anyText = fc.string({ unit: 'binary', maxLength: 40 })
  const anyValue = fc.oneof(
    fc.integer(),
    fc.double(),
    anyText,
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.bigInt(),
    fc.array(fc.integer(), { maxLength: 3 }),
    fc.constant(HUGE),
  )

  test('payloads with wrong types, missing fields, NUL bytes, lone surrogates, bigints or huge strings are refused with a typed error', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          { id: anyValue, customer: anyValue, total_cents: anyValue, status: anyValue, version: anyValue },
          { requiredKeys: [] },
        ),
        fc.dictionary(anyText, anyValue, { maxKeys: 3 }),
        async (fields, extra) => {
          await attempt((trx) => outbox.enqueue(trx, Event, { ...extra, ...fields } as unknown as OrderRow))
        },
      ),
      { numRuns: 150 },
    )
  })

  test('tombstones with random keys either store the key exactly or are refused', async () => {
    await fc.assert(
      fc.asyncProperty(anyText, async (key) => {
        const outcome = await attempt((trx) => outbox.tombstone(trx, Event, key))
        if (outcome === 'written') {
          const [row] = await knex('postbox.outbox').select('key').orderBy('id', 'desc').limit(1)
          assert.equal(row?.key, key)
        }
      }),
      { numRuns: 150 },
    )
  })

  test('keys around the 1024-byte limit are stored when their UTF-8 form fits and refused when it does not', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'grapheme', minLength: 150, maxLength: 450 }), async (key) => {
        const outcome = await attempt((trx) => outbox.tombstone(trx, Event, key))
        const fits = Buffer.byteLength(key, 'utf8') <= 1024 && !key.includes('\0')
        assert.equal(outcome, fits ? 'written' : 'refused')
      }),
      { numRuns: 60 },
    )
  })

  test('headers and traceparent values are validated too', async () => {
    const valid: OrderRow = { id: 1, customer: 'c', total_cents: 1, status: 's' }
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(anyText, anyValue, { maxKeys: 3 }),
        anyText,
        async (headers, traceparent) => {
          await attempt((trx) =>
            outbox.enqueue(trx, Event, valid, { headers: headers as Record<string, string>, traceparent }),
          )
        },
      ),
      { numRuns: 100 },
    )
  })

  test('an event definition that is not in the catalog is refused with a typed error', async () => {
    await fc.assert(
      fc.asyncProperty(anyText, async (topicSuffix) => {
        const stranger = orderEvent(`stranger.${topicSuffix.replace(/[^a-z]/g, '') || 'x'}`)
        const outcome = await attempt((trx) =>
          outbox.enqueue(trx, stranger, { id: 1, customer: 'c', total_cents: 1, status: 's' }),
        )
        assert.equal(outcome, 'refused')
      }),
      { numRuns: 30 },
    )
  })
})
