import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
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
  async function observedRelay(
    events: PostboxSettings['events'],
    relay: RelaySettings = {},
    start = true,
    registryUrl?: string,
  ) {
    const settings = relaySettings(db.url, events, relay)
    const config = resolveConfig(
      registryUrl === undefined ? settings : { ...settings, registry: { url: registryUrl } },
    )
    const metrics = createRelayMetrics(config, { statusMaxAgeMs: 0, processMetrics: false })
    const r = new Relay(config, { logger: silentLogger, hooks: metrics.hooks })
    if (start) await r.start()
    const http: RelayHttpServer = await serveRelayHttp(r, metrics, { port: 0, host: '127.0.0.1' })
    return {
      relay: r,
      id: config.relay.id,
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
      assert.equal(sampleValue(text, 'postbox_commit_to_ack_seconds_count', { topic }), 5)
      assert.equal(sampleValue(text, 'postbox_commit_to_ack_seconds_bucket', { topic, le: '60' }), 5)
      assert.ok((sampleValue(text, 'postbox_batch_rows_sum') ?? 0) >= 5)
      assert.equal(sampleValue(text, 'postbox_pending_rows', { topic }), 0)
      assert.equal(sampleValue(text, 'postbox_leases_held'), 16, 'a lone relay holds every shard')
      assert.equal(
        sampleValue(text, 'postbox_backlog_exporter'),
        1,
        'holding shard 0, it exports the backlog',
      )
      assert.equal(sampleValue(text, 'postbox_relay_ready'), 1)
      for (const dependency of ['postgres', 'kafka', 'registry', 'other'])
        assert.equal(sampleValue(text, 'postbox_errors_total', { dependency }), 0, dependency)
    } finally {
      await relay.close()
    }
  })

  test('postbox_build_info carries the version from package.json', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    const relay = await observedRelay([orderEvent(uniqueName('metrics.build'))], {}, false)
    try {
      assert.equal(sampleValue(await relay.scrape(), 'postbox_build_info', { version }), 1)
    } finally {
      await relay.close()
    }
  })

  test('rows waiting behind an open transaction show in postbox_pending_rows and postbox_oldest_pending_age_seconds', async () => {
    const topic = uniqueName('metrics.pending')
    const OrderChanged = orderEvent(topic)
    const outbox = outboxFor([OrderChanged])
    const relay = await observedRelay([OrderChanged])
    // An uncommitted row of order 1 comes first, so its later rows cannot be published yet.
    const blocker = await knex.transaction()
    try {
      await outbox.enqueue(blocker, OrderChanged, order(1))
      await knex.transaction((trx) =>
        outbox.enqueueMany(
          trx,
          OrderChanged,
          [200, 300, 400].map((cents) => ({ ...order(1), total_cents: cents })),
        ),
      )
      const text = await relay.scrape()
      assert.equal(sampleValue(text, 'postbox_pending_rows', { topic }), 3)
      assert.ok((sampleValue(text, 'postbox_oldest_pending_age_seconds', { topic }) ?? 0) > 0)
      assert.equal(sampleValue(text, 'postbox_parked_rows', { topic }), 0)

      await blocker.rollback()
      await waitFor('3 rows sent', async () => ((await statusCount(topic, 'sent')) === 3 ? true : undefined))
      const after = await relay.scrape()
      assert.equal(sampleValue(after, 'postbox_pending_rows', { topic }), 0)
      assert.equal(sampleValue(after, 'postbox_oldest_pending_age_seconds', { topic }), 0)
    } finally {
      if (!blocker.isCompleted()) await blocker.rollback()
      await relay.close()
    }
  })

  test('a relay that holds no lease exports postbox_backlog_exporter 0 and no backlog series', async () => {
    const topic = uniqueName('metrics.nolease')
    const relay = await observedRelay([orderEvent(topic)], {}, false)
    try {
      const text = await relay.scrape()
      assert.equal(sampleValue(text, 'postbox_backlog_exporter'), 0)
      assert.equal(sampleValue(text, 'postbox_pending_rows', { topic }), undefined)
      assert.doesNotMatch(
        text,
        /^postbox_(pending_rows|oldest_pending_age_seconds|parked_rows|relay_shards)\{/m,
      )
      assert.equal(sampleValue(text, 'postbox_leases_held'), 0)
      assert.equal(sampleValue(text, 'postbox_relay_ready'), 0)
    } finally {
      await relay.close()
    }
  })

  test('with two relays, only the one holding shard 0 exports the backlog and it lists both relays with their shards', async () => {
    const topic = uniqueName('metrics.two')
    const OrderChanged = orderEvent(topic)
    const outbox = outboxFor([OrderChanged])
    const fast = { leaseTtlMs: 1000 }
    const first = await observedRelay([OrderChanged], { ...fast, id: uniqueName('relay-a') })
    const second = await observedRelay([OrderChanged], { ...fast, id: uniqueName('relay-b') })
    try {
      await waitFor('the shards split 8/8', async () =>
        first.relay.health().shards.length === 8 && second.relay.health().shards.length === 8
          ? true
          : undefined,
      )
      await knex.transaction((trx) => outbox.enqueue(trx, OrderChanged, order(1)))
      await waitFor('the row sent', async () => ((await statusCount(topic, 'sent')) === 1 ? true : undefined))
      const [a, b] = [await first.scrape(), await second.scrape()]
      const [exporter, other] = first.relay.health().shards.includes(0) ? [a, b] : [b, a]
      assert.equal(sampleValue(exporter, 'postbox_backlog_exporter'), 1)
      assert.equal(sampleValue(other, 'postbox_backlog_exporter'), 0)
      assert.equal(sampleValue(exporter, 'postbox_pending_rows', { topic }), 0)
      assert.equal(sampleValue(other, 'postbox_pending_rows', { topic }), undefined)
      for (const r of [first, second]) {
        assert.equal(sampleValue(exporter, 'postbox_relay_shards', { relay: r.id }), 8)
        assert.ok((sampleValue(exporter, 'postbox_relay_heartbeat_age_seconds', { relay: r.id }) ?? -1) >= 0)
      }
    } finally {
      await second.close()
      await first.close()
    }
  })

  test('a registry that refuses connections counts in postbox_errors_total and postbox_retries_total for "registry"', async () => {
    const topic = uniqueName('metrics.errors')
    const relay = await observedRelay([orderEvent(topic)], {}, false, 'http://127.0.0.1:1/apis/ccompat/v7')
    const starting = relay.relay.start()
    try {
      const text = await waitFor('two registry failures', async () => {
        const t = await relay.scrape()
        return (sampleValue(t, 'postbox_retries_total', { dependency: 'registry' }) ?? 0) >= 2 ? t : undefined
      })
      assert.ok((sampleValue(text, 'postbox_errors_total', { dependency: 'registry' }) ?? 0) >= 2)
      assert.equal(sampleValue(text, 'postbox_errors_total', { dependency: 'kafka' }), 0)
      assert.equal(sampleValue(text, 'postbox_relay_ready'), 0)
    } finally {
      await relay.close()
      await starting
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
      assert.equal(sampleValue(text, 'postbox_parked_total'), 1)
      assert.equal(sampleValue(text, 'postbox_pending_rows', { topic }), 0)
    } finally {
      await relay.close()
    }
  })
})
