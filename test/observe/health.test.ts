import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { type Logger, silentLogger } from '../../src/observe/logger.js'
import { createRelayMetrics, Relay, resolveConfig, serveRelayHttp } from '../../src/relay-api.js'
import { type OrderRow, orderEvent } from '../support/events.js'
import { httpGet, sampleValue } from '../support/prometheus.js'
import { outboxFor, relaySettings, startRelay } from '../support/relay.js'
import { createMigratedDatabase, stack, uniqueName, waitFor } from '../support/stack.js'

describe('/healthz and /readyz tell an orchestrator whether the relay lives and publishes', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>

  before(async () => {
    db = await createMigratedDatabase('pbhealth')
  })
  after(async () => {
    await db.drop()
  })

  async function served(
    brokers: readonly string[],
    options: { logger?: Logger; stallWarningMs?: number; event?: ReturnType<typeof orderEvent> } = {},
  ) {
    const OrderChanged = options.event ?? orderEvent(uniqueName('health'))
    const settings = relaySettings(db.url, [OrderChanged])
    const config = resolveConfig({
      ...settings,
      kafka: { brokers },
      relay: {
        ...settings.relay,
        backoff: { maxMs: 500 },
        ...(options.stallWarningMs === undefined ? {} : { stallWarningMs: options.stallWarningMs }),
      },
    })
    const metrics = createRelayMetrics(config, { processMetrics: false })
    const relay = new Relay(config, { logger: options.logger ?? silentLogger, hooks: metrics.hooks })
    const http = await serveRelayHttp(relay, metrics, { port: 0 })
    let stopping: Promise<void> | null = null
    return {
      relay,
      url: http.url,
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

  test("a stall names the blocking transaction in /readyz, health() and the logs, but never that transaction's SQL", async () => {
    const lines: string[] = []
    const OrderChanged = orderEvent(uniqueName('health.stall'))
    const s = await served(stack.brokers, {
      logger: recordingLogger(lines),
      stallWarningMs: 300,
      event: OrderChanged,
    })
    const outbox = outboxFor([OrderChanged])
    const order = (id: number): OrderRow => ({ id, customer: 'c', total_cents: 1, status: 'new' })
    const slow = new pg.Client({ connectionString: db.url })
    const writer = new pg.Client({ connectionString: db.url })
    await Promise.all([slow.connect(), writer.connect()])
    await s.relay.start()
    try {
      await slow.query('begin')
      const [{ pid }] = (await slow.query('select pg_backend_pid() as pid')).rows as [{ pid: number }]
      await outbox.enqueue(slow, OrderChanged, order(1))
      // The open transaction's last statement, as pg_stat_activity shows it to everyone.
      await slow.query("select 'pw=hunter2' as secret")
      await writer.query('begin')
      await outbox.enqueue(writer, OrderChanged, order(2))
      await writer.query('commit')

      const ready = await waitFor('/readyz to name the open transaction', async () => {
        const r = await s.get('/readyz')
        return r.body.includes(`pid ${pid}`) ? r : undefined
      })
      const body = JSON.parse(ready.body) as { stall: { transaction: { pid: number } | null } | null }
      assert.equal(body.stall?.transaction?.pid, pid)
      assert.doesNotMatch(ready.body, /hunter2/)
      assert.doesNotMatch(JSON.stringify(s.relay.health()), /hunter2/)
      const warning = await waitFor('the stall warning in the log', async () =>
        lines.find((line) => line.includes('wait behind an open transaction')),
      )
      assert.match(warning, new RegExp(`"pid":${pid}`))
      assert.deepEqual(
        lines.filter((line) => line.includes('hunter2')),
        [],
        'no log line carries the SQL text',
      )
    } finally {
      await slow.query('rollback').catch(() => {})
      await Promise.all([slow.end(), writer.end()])
      await s.close()
    }
  })

  test('the HTTP server listens on 127.0.0.1 only unless another host is given', async () => {
    const s = await served(stack.brokers)
    try {
      const { hostname, port } = new URL(s.url)
      assert.equal(hostname, '127.0.0.1')
      assert.equal((await httpGet(`http://127.0.0.1:${port}/healthz`)).status, 503)
      // All of 127.0.0.0/8 reaches the loopback interface: a server on every interface would answer.
      await assert.rejects(httpGet(`http://127.0.0.2:${port}/healthz`), /fetch failed/)
    } finally {
      await s.close()
    }
  })

  function spawnRelay(...extra: string[]) {
    const child: ChildProcess = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'bin/postbox.ts',
        'relay',
        '--config',
        'examples/orders/postbox.config.ts',
        ...extra,
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
    const output = { stderr: '' }
    child.stderr?.on('data', (chunk: Buffer) => {
      output.stderr += chunk.toString('utf8')
    })
    return { child, output, exited: once(child, 'exit') }
  }

  test('`postbox relay --http-port` serves the endpoints on 127.0.0.1 and stops on SIGTERM', async () => {
    const { child, output, exited } = spawnRelay('--http-port', '0')
    try {
      const port = await waitFor('the port line', async () => /on port (\d+)/.exec(output.stderr)?.[1])
      const base = `http://127.0.0.1:${port}`
      await waitFor('ready', async () =>
        (await httpGet(`${base}/readyz`)).status === 200 ? true : undefined,
      )
      assert.equal((await httpGet(`${base}/healthz`)).status, 200)
      await assert.rejects(httpGet(`http://127.0.0.2:${port}/healthz`), /fetch failed/)
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
    assert.equal(code, 0, output.stderr)
  })

  test('`postbox relay --http-host` serves the endpoints on that interface only', async () => {
    const { child, output, exited } = spawnRelay('--http-port', '0', '--http-host', '127.0.0.2')
    try {
      const port = await waitFor('the port line', async () => /on port (\d+)/.exec(output.stderr)?.[1])
      assert.match(output.stderr, new RegExp(`http://127\\.0\\.0\\.2:${port}`))
      await waitFor('ready', async () =>
        (await httpGet(`http://127.0.0.2:${port}/readyz`)).status === 200 ? true : undefined,
      )
      await assert.rejects(httpGet(`http://127.0.0.1:${port}/healthz`), /fetch failed/)
    } finally {
      child.kill('SIGTERM')
    }
    const [code] = await exited
    assert.equal(code, 0, output.stderr)
  })
})

describe('Relay.stop()', () => {
  test('closes every connection of the relay before it resolves: none is left in pg_stat_activity', async () => {
    const db = await createMigratedDatabase('pbstop')
    const database = new URL(db.url).pathname.slice(1)
    // Connected up front, so the check runs the moment stop() resolves.
    const probe = new pg.Client({ connectionString: stack.databaseUrl })
    await probe.connect()
    const backendsOf = async (relayId: string) =>
      (
        await probe.query<{ application_name: string }>(
          `select application_name from pg_stat_activity
           where datname = $1 and (application_name like $2 or application_name = 'postbox-listen')
           order by application_name`,
          [database, `postbox-relay ${relayId}%`],
        )
      ).rows.map((r) => r.application_name)
    try {
      const OrderChanged = orderEvent(uniqueName('health.stop'))
      const relayId = uniqueName('stopping')
      const relay = await startRelay(db.url, [OrderChanged], { id: relayId, minPollIntervalMs: 1 })
      const outbox = outboxFor([OrderChanged])
      const writer = new pg.Client({ connectionString: db.url })
      await writer.connect()
      try {
        for (let id = 1; id <= 20; id++) {
          await writer.query('begin')
          await outbox.enqueue(writer, OrderChanged, { id, customer: 'c', total_cents: 1, status: 'new' })
          await writer.query('commit')
        }
      } finally {
        await writer.end()
      }
      const working = await waitFor('the relay and its LISTEN connection', async () => {
        const names = await backendsOf(relayId)
        return names.includes('postbox-listen') && names.includes(`postbox-relay ${relayId}`)
          ? names
          : undefined
      })
      assert.ok(working.length >= 2)
      await relay.stop()
      assert.deepEqual(await backendsOf(relayId), [])
    } finally {
      await probe.end()
      await db.drop()
    }
  })
})

/** A logger that keeps each line as the JSON a log collector would receive. */
function recordingLogger(lines: string[], bound: object = {}): Logger {
  const record = (level: string) => (fields: object, message: string) => {
    lines.push(JSON.stringify({ level, ...bound, ...fields, msg: message }))
  }
  return {
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
    child: (fields) => recordingLogger(lines, { ...bound, ...fields }),
  }
}
