import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import knexFactory, { type Knex } from 'knex'
import { silentLogger } from '../../src/observe/logger.js'
import type { BatchReport } from '../../src/relay/relay.js'
import { Relay, resolveConfig } from '../../src/relay-api.js'
import { type OrderRow, orderEvent } from '../support/events.js'
import { outboxFor, readTopic, relaySettings } from '../support/relay.js'
import { createMigratedDatabase, queryRows, uniqueName, waitFor } from '../support/stack.js'

describe('each claim is bounded by bytes as well as rows (relay.maxBatchBytes)', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let knex: Knex

  before(async () => {
    db = await createMigratedDatabase('pbclaimbytes')
    knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 2 } })
  })
  after(async () => {
    await knex.destroy()
    await db.drop()
  })

  test('with payloads near the 1 MiB limit, every batch stays within maxBatchBytes and every row is published', async () => {
    const topic = uniqueName('claim.bytes')
    const OrderChanged = orderEvent(topic)
    const outbox = outboxFor([OrderChanged])
    const big = (id: number): OrderRow => ({
      id,
      customer: String(id % 10).repeat(900_000),
      total_cents: id,
      status: 'new',
    })
    const count = 10
    for (let id = 1; id <= count; id++) {
      await knex.transaction((trx) => outbox.enqueue(trx, OrderChanged, big(id)))
    }
    const sizes = await queryRows<{ bytes: number }>(
      db.url,
      'select octet_length(payload::text) + octet_length(headers::text) as bytes from postbox.outbox',
    )
    const largest = Math.max(...sizes.map((s) => s.bytes))
    assert.ok(largest > 900_000)
    const maxBatchBytes = 2_000_000
    const batches: BatchReport[] = []
    const relay = new Relay(
      resolveConfig(relaySettings(db.url, [OrderChanged], { maxBatchBytes, batchSize: 2000 })),
      { logger: silentLogger, hooks: { onBatch: (b) => batches.push(b) } },
    )
    await relay.start()
    try {
      const records = await waitFor('every record published', async () => {
        const r = await readTopic(topic)
        return r.length >= count ? r : undefined
      })
      assert.deepEqual(
        records.map((r) => r.key).sort((a, b) => Number(a) - Number(b)),
        Array.from({ length: count }, (_, i) => String(i + 1)),
      )
      await waitFor('every row marked sent', async () => {
        const [row] = await queryRows<{ n: number }>(
          db.url,
          "select count(*)::int as n from postbox.outbox where status <> 'sent'",
        )
        return row?.n === 0 ? true : undefined
      })
    } finally {
      await relay.stop()
    }
    assert.equal(
      batches.reduce((n, b) => n + b.published, 0),
      count,
    )
    for (const batch of batches) {
      assert.ok(
        batch.claimed * Math.min(...sizes.map((s) => s.bytes)) <= maxBatchBytes,
        `a batch claimed ${batch.claimed} rows of over ${largest - 1000} bytes each, over ${maxBatchBytes}`,
      )
    }
    assert.ok(batches.every((b) => b.claimed >= 1))
  })
})
