import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import knexFactory, { type Knex } from 'knex'
import { silentLogger } from '../../src/observe/logger.js'
import {
  createRelayMetrics,
  type PostboxSettings,
  Relay,
  type RelayHttpServer,
  type RelaySettings,
  resolveConfig,
  serveRelayHttp,
} from '../../src/relay-api.js'
import { type OrderRow, orderEvent } from '../support/events.js'
import { httpGet, sampleValue } from '../support/prometheus.js'
import { outboxFor, relaySettings } from '../support/relay.js'
import { createMigratedDatabase, queryRows, uniqueName, waitFor } from '../support/stack.js'

describe('/metrics exposes what the relay publishes and what waits in the outbox', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let knex: Knex

  before(async () => {
    db = await createMigratedDatabase('pbmetrics')
    knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 4 } })
  })
  after(async () => {
    await knex.destroy()
    await db.drop()
  })

  const order = (id: number, customer = `customer-${id}`): OrderRow => ({
    id,
    customer,
    total_cents: id * 100,
    status: 'new',
  })

  /** A relay (started or not) with its metrics served on a free port; close() undoes all of it. */
  async function observedRelay(events: PostboxSettings['events'], relay: RelaySettings = {}, start = true) {
    const config = resolveConfig(relaySettings(db.url, events, relay))
    const metrics = createRelayMetrics(config, { statusMaxAgeMs: 0, processMetrics: false })
    const r = new Relay(config, { logger: silentLogger, hooks: metrics.hooks })
    if (start) await r.start()
    const http: RelayHttpServer = await serveRelayHttp(r, metrics, { port: 0, host: '127.0.0.1' })
    return {
      scrape: async () => {
        const response = await httpGet(`${http.url}/metrics`)
        assert.equal(response.status, 200)
        assert.match(response.contentType, /^text\/plain; version=0\.0\.4/)
        return response.body
      },
      async close() {
        await r.stop()
        await http.close()
        await metrics.close()
      },
    }
  }

  const statusCount = async (topic: string, status: string) =>
    (
      await queryRows<{ n: number }>(
        db.url,
        'select count(*)::int as n from postbox.outbox where topic = $1 and status = $2',
        [topic, status],
      )
    )[0]?.n ?? -1

  test('after publishing 5 events, postbox_published_total for their topic and event type is 5', async () => {
    const topic = uniqueName('metrics.published')
    const OrderChanged = orderEvent(topic)
    const outbox = outboxFor([OrderChanged])
    const relay = await observedRelay([OrderChanged])
    try {
      const labels = { topic, event_type: OrderChanged.type }
      assert.equal(sampleValue(await relay.scrape(), 'postbox_published_total', labels), 0)
      await knex.transaction((trx) =>
        outbox.enqueueMany(
          trx,
          OrderChanged,
          [1, 2, 3, 4, 5].map((i) => order(i)),
        ),
      )
      await waitFor('5 rows sent', async () => ((await statusCount(topic, 'sent')) === 5 ? true : undefined))

      // The batch hook runs right after the rows are marked sent.
      const text = await waitFor('the counter at 5', async () => {
        const t = await relay.scrape()
        return sampleValue(t, 'postbox_published_total', labels) === 5 ? t : undefined
      })
      assert.equal(sampleValue(text, 'postbox_commit_to_ack_seconds_count'), 5)
      assert.equal(sampleValue(text, 'postbox_commit_to_ack_seconds_bucket', { le: '60' }), 5)
      assert.ok((sampleValue(text, 'postbox_batch_size_sum') ?? 0) >= 5)
      assert.equal(sampleValue(text, 'postbox_pending_rows', { topic }), 0)
      assert.equal(sampleValue(text, 'postbox_leases_held'), 16, 'a lone relay holds every shard')
      assert.equal(sampleValue(text, 'postbox_relay_ready'), 1)
    } finally {
      await relay.close()
    }
  })

  test('postbox_pending_rows and postbox_oldest_pending_age_seconds show rows no relay has published yet', async () => {
    const topic = uniqueName('metrics.pending')
    const OrderChanged = orderEvent(topic)
    const outbox = outboxFor([OrderChanged])
    const relay = await observedRelay([OrderChanged], {}, false)
    try {
      const before = await relay.scrape()
      assert.equal(sampleValue(before, 'postbox_pending_rows', { topic }), 0)
      assert.equal(sampleValue(before, 'postbox_oldest_pending_age_seconds', { topic }), 0)

      await knex.transaction((trx) =>
        outbox.enqueueMany(
          trx,
          OrderChanged,
          [1, 2, 3].map((i) => order(i)),
        ),
      )
      await new Promise((r) => setTimeout(r, 50))
      const text = await relay.scrape()
      assert.equal(sampleValue(text, 'postbox_pending_rows', { topic }), 3)
      assert.ok((sampleValue(text, 'postbox_oldest_pending_age_seconds', { topic }) ?? 0) > 0)
      assert.equal(sampleValue(text, 'postbox_parked_rows', { topic }), 0)
      assert.equal(sampleValue(text, 'postbox_leases_held'), 0)
      assert.equal(sampleValue(text, 'postbox_relay_ready'), 0)
    } finally {
      await relay.close()
    }
  })

  test('a row too large for Kafka is parked and counted in postbox_parked_rows, not in postbox_published_total', async () => {
    const topic = uniqueName('metrics.parked')
    const OrderChanged = orderEvent(topic)
    const outbox = outboxFor([OrderChanged])
    const relay = await observedRelay([OrderChanged], { maxMessageBytes: 200 })
    try {
      await knex.transaction(async (trx) => {
        await outbox.enqueue(trx, OrderChanged, order(1, 'x'.repeat(500)))
        await outbox.enqueue(trx, OrderChanged, order(2))
      })
      await waitFor('one parked, one sent', async () =>
        (await statusCount(topic, 'parked')) === 1 && (await statusCount(topic, 'sent')) === 1
          ? true
          : undefined,
      )
      const labels = { topic, event_type: OrderChanged.type }
      const text = await waitFor('the counter at 1', async () => {
        const t = await relay.scrape()
        return sampleValue(t, 'postbox_published_total', labels) === 1 ? t : undefined
      })
      assert.equal(sampleValue(text, 'postbox_parked_rows', { topic }), 1)
      assert.equal(sampleValue(text, 'postbox_pending_rows', { topic }), 0)
    } finally {
      await relay.close()
    }
  })
})
