import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { after, before, describe, test } from 'node:test'
import { silentLogger } from '../../src/observe/logger.js'
import { createRelayMetrics, Relay, resolveConfig, serveRelayHttp } from '../../src/relay-api.js'
import { orderEvent } from '../support/events.js'
import { httpGet, sampleValue } from '../support/prometheus.js'
import { relaySettings } from '../support/relay.js'
import { createMigratedDatabase, stack, uniqueName, waitFor } from '../support/stack.js'

describe('/healthz and /readyz tell an orchestrator whether the relay lives and publishes', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>

  before(async () => {
    db = await createMigratedDatabase('pbhealth')
  })
  after(async () => {
    await db.drop()
  })

  async function served(brokers: readonly string[]) {
    const OrderChanged = orderEvent(uniqueName('health'))
    const settings = relaySettings(db.url, [OrderChanged])
    const config = resolveConfig({
      ...settings,
      kafka: { brokers },
      relay: { ...settings.relay, backoff: { maxMs: 500 } },
    })
    const metrics = createRelayMetrics(config, { processMetrics: false })
    const relay = new Relay(config, { logger: silentLogger, hooks: metrics.hooks })
    const http = await serveRelayHttp(relay, metrics, { port: 0, host: '127.0.0.1' })
    let stopping: Promise<void> | null = null
    return {
      relay,
      get: (path: string) => httpGet(`${http.url}${path}`),
      stopRelay: () => {
        stopping ??= relay.stop()
        return stopping
      },
      async close() {
        await this.stopRelay()
        await http.close()
        await metrics.close()
      },
    }
  }

  test('/readyz answers 503 with the reason while Kafka is unreachable, and /healthz 200 because the relay keeps retrying', async () => {
    const s = await served(['127.0.0.1:1'])
    // start() retries start-up until Kafka answers, so it is left running in the background.
    const starting = s.relay.start()
    try {
      await waitFor('a start-up failure', async () =>
        /kafka/.test(s.relay.health().reason ?? '') ? true : undefined,
      )
      const ready = await s.get('/readyz')
      assert.equal(ready.status, 503)
      assert.match(ready.contentType, /^application\/json/)
      const body = JSON.parse(ready.body) as { ready: boolean; reason: string; stall: unknown }
      assert.equal(body.ready, false)
      assert.match(body.reason, /^start-up: kafka: /)
      assert.equal(body.stall, null)
      assert.equal((await s.get('/healthz')).status, 200)
      assert.equal(sampleValue((await s.get('/metrics')).body, 'postbox_relay_ready'), 0)
    } finally {
      await s.close()
      await starting
    }
  })

  test('/readyz and /healthz answer 200 once the relay publishes', async () => {
    const s = await served(stack.brokers)
    await s.relay.start()
    try {
      const ready = await waitFor('ready', async () => {
        const r = await s.get('/readyz')
        return r.status === 200 ? r : undefined
      })
      const body = JSON.parse(ready.body) as { ready: boolean; shards: number[] }
      assert.equal(body.ready, true)
      assert.equal(body.shards.length, 16)
      const health = await s.get('/healthz')
      assert.equal(health.status, 200)
      assert.deepEqual(JSON.parse(health.body), { running: true })
    } finally {
      await s.close()
    }
  })

  test('/healthz and /readyz answer 503 once the relay has stopped, and unknown paths 404', async () => {
    const s = await served(stack.brokers)
    await s.relay.start()
    await s.stopRelay()
    try {
      assert.equal((await s.get('/healthz')).status, 503)
      const ready = await s.get('/readyz')
      assert.equal(ready.status, 503)
      assert.equal((JSON.parse(ready.body) as { reason: string }).reason, 'stopped')
      assert.equal((await s.get('/nope')).status, 404)
    } finally {
      await s.close()
    }
  })

  test('`postbox relay --http-port` serves the endpoints and stops on SIGTERM', async () => {
    const child: ChildProcess = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'bin/postbox.ts',
        'relay',
        '--config',
        'examples/orders/postbox.config.ts',
        '--http-port',
        '0',
      ],
      {
        env: {
          ...process.env,
          DATABASE_URL: db.url,
          KAFKA_BROKERS: stack.brokers.join(','),
          SCHEMA_REGISTRY_URL: stack.registryUrl,
          // The port line is an info log line.
          LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    )
    let stderr = ''
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8')
    })
    const exited = once(child, 'exit')
    try {
      const port = await waitFor('the port line', async () => /on port (\d+)/.exec(stderr)?.[1])
      const base = `http://127.0.0.1:${port}`
      await waitFor('ready', async () =>
        (await httpGet(`${base}/readyz`)).status === 200 ? true : undefined,
      )
      assert.equal((await httpGet(`${base}/healthz`)).status, 200)
      const metrics = await httpGet(`${base}/metrics`)
      assert.equal(
        sampleValue(metrics.body, 'postbox_published_total', {
          topic: 'demo.orders.v1',
          event_type: 'order.changed',
        }),
        0,
      )
      assert.ok(sampleValue(metrics.body, 'process_resident_memory_bytes'), 'process metrics are exported')
    } finally {
      child.kill('SIGTERM')
    }
    const [code] = await exited
    assert.equal(code, 0, stderr)
  })
})
