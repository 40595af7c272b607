import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { silentLogger } from '../../src/observe/logger.js'
import { createRelayMetrics, Relay, resolveConfig, serveRelayHttp } from '../../src/relay-api.js'
import { orderEvent } from '../support/events.js'
import { httpGet } from '../support/prometheus.js'
import { relaySettings } from '../support/relay.js'
import { createMigratedDatabase, uniqueName, waitFor } from '../support/stack.js'

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const ops = join(repo, 'ops')
const cachedPromtool = join(repo, '.stack/promtool/promtool')

function run(command: string, args: string[], cwd = repo) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 300_000 })
  return {
    status: result.status,
    output: `${result.stdout ?? ''}${result.stderr ?? ''}`,
    error: result.error,
  }
}

/**
 * promtool from PATH, else from the cache, else extracted from Debian's `prometheus` package
 * (downloaded with apt-get, not installed, so no Prometheus service is set up or started).
 */
function findPromtool(): string {
  if (run('promtool', ['--version']).status === 0) return 'promtool'
  if (existsSync(cachedPromtool)) return cachedPromtool
  const work = mkdtempSync(join(tmpdir(), 'postbox-promtool-'))
  try {
    const fail = (step: string, output: string) =>
      assert.fail(
        `promtool is missing and ${step} failed; install Debian's prometheus package (apt-get install prometheus) or put promtool on PATH:\n${output}`,
      )
    const update = run('apt-get', ['update', '-qq'], work)
    if (update.status !== 0) fail('`apt-get update`', update.error?.message ?? update.output)
    const download = run('apt-get', ['download', 'prometheus'], work)
    if (download.status !== 0) fail('`apt-get download prometheus`', download.output)
    const deb = run('sh', ['-c', 'dpkg-deb -x prometheus_*.deb extracted'], work)
    if (deb.status !== 0) fail('unpacking the package with dpkg-deb', deb.output)
    mkdirSync(dirname(cachedPromtool), { recursive: true })
    copyFileSync(join(work, 'extracted/usr/bin/promtool'), cachedPromtool)
    return cachedPromtool
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/** Metric names in PromQL text: ours all start with postbox_. */
function metricNames(promql: string): string[] {
  return [...promql.matchAll(/\bpostbox_[a-z0-9_]+\b/g)].map((m) => m[0])
}

function dashboardQueries(): string[] {
  const dashboard = JSON.parse(readFileSync(join(ops, 'dashboard.json'), 'utf8')) as {
    panels: { title: string; targets?: { expr: string }[] }[]
    templating: { list: { definition?: string }[] }
  }
  return [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    ...dashboard.templating.list.flatMap((v) => (v.definition === undefined ? [] : [v.definition])),
  ]
}

function alertExpressions(): string[] {
  const rules = readFileSync(join(ops, 'alerts.yml'), 'utf8')
  return [...rules.matchAll(/^\s*expr:\s*(.+)$/gm)].map((m) => m[1] as string)
}

describe('the alert rules in ops/ pass their promtool tests', () => {
  let promtool: string
  before(() => {
    promtool = findPromtool()
  })

  test('promtool accepts ops/alerts.yml as a rule file', () => {
    const check = run(promtool, ['check', 'rules', join(ops, 'alerts.yml')])
    assert.equal(check.status, 0, check.output)
    assert.match(check.output, /SUCCESS: 7 rules found/)
  })

  test('every case in ops/alerts.test.yml passes: late events, parked rows, no ready relay, no leases, stale heartbeat, errors', () => {
    const result = run(promtool, ['test', 'rules', 'alerts.test.yml'], ops)
    assert.equal(result.status, 0, result.output)
    assert.match(result.output, /SUCCESS/)
  })
})

describe('the dashboard and the alert rules query only metrics a relay exports', () => {
  let exposition: string
  let exported: Set<string>

  before(async () => {
    const db = await createMigratedDatabase('pbopsmetrics')
    const config = resolveConfig(relaySettings(db.url, [orderEvent(uniqueName('ops.names'))]))
    const metrics = createRelayMetrics(config, { statusMaxAgeMs: 0, processMetrics: false })
    const relay = new Relay(config, { logger: silentLogger, hooks: metrics.hooks })
    const http = await serveRelayHttp(relay, metrics, { port: 0, host: '127.0.0.1' })
    try {
      await relay.start()
      // Holding shard 0 makes this relay export the table-wide gauges too.
      exposition = await waitFor('shard 0 held', async () =>
        relay.health().shards.includes(0) ? (await httpGet(`${http.url}/metrics`)).body : undefined,
      )
    } finally {
      await relay.stop()
      await http.close()
      await metrics.close()
      await db.drop()
    }
    exported = new Set(
      exposition
        .split('\n')
        .filter((line) => line !== '' && !line.startsWith('#'))
        .map((line) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] ?? line),
    )
  })

  test('the dashboard has queries, and every postbox_ series they name appears on /metrics', () => {
    const queries = dashboardQueries()
    assert.ok(queries.length >= 15, `found ${queries.length} queries`)
    const used = new Set(queries.flatMap(metricNames))
    assert.ok(used.size >= 12, [...used].join(' '))
    assert.deepEqual(
      [...used].filter((name) => !exported.has(name)),
      [],
    )
  })

  test('every postbox_ series the alert rules name appears on /metrics', () => {
    const used = new Set(alertExpressions().flatMap(metricNames))
    assert.equal(alertExpressions().length, 7)
    assert.deepEqual(
      [...used].filter((name) => !exported.has(name)),
      [],
    )
  })
})
