import { existsSync, readFileSync } from 'node:fs'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { ResolvedConfig } from '../config.js'
import { type Database, openDatabase } from '../db/pool.js'
import { type RelayStatus, statusQueries, type TopicStatus } from '../db/status-queries.js'
import { describeError } from '../errors.js'
import type { FailedDependency } from '../relay/failed-dependency.js'
import type { BatchReport, FailureReport, RelayHealth, RelayHooks } from '../relay/relay.js'
import { type Logger, silentLogger } from './logger.js'

export interface RelayMetricsOptions {
  logger?: Logger
  /**
   * Backlog gauges come from a status query run at scrape time; scrapes closer together than
   * this reuse the last answer, so several scrapers never load the database (default 2000 ms).
   * The answer is also reused for 20× the time the query took (statusRefreshDue). 0 refreshes at
   * every scrape.
   */
  statusMaxAgeMs?: number
  /** Also export Node's process metrics (CPU, memory, event-loop lag, GC) (default true). */
  processMetrics?: boolean
}

/** The relay's Prometheus metrics. Pass `hooks` to the Relay, then serve `render()` on /metrics. */
export interface RelayMetrics {
  readonly hooks: Required<RelayHooks>
  readonly contentType: string
  /** The Prometheus text exposition, with backlog gauges refreshed and lease gauges taken from `health`. */
  render(health: RelayHealth): Promise<string>
  /** Closes the status-query connection. Idempotent. */
  close(): Promise<void>
}

const STATUS_COST_FACTOR = 20

/**
 * Whether the backlog gauges' status query runs again. It scans every pending row, so with a large
 * backlog it is slow (~0.3 s and three parallel workers for 1,000,000 rows here): the last answer
 * is reused for at least 20× the time the last query took, which keeps the query under ~5% of its
 * connection's time however often /metrics is scraped, and the gauges' age in proportion to the
 * backlog. `maxAgeMs` 0 refreshes at every scrape.
 */
export function statusRefreshDue(
  now: number,
  last: { at: number; tookMs: number },
  maxAgeMs: number,
): boolean {
  if (maxAgeMs === 0) return true
  return now - last.at >= Math.max(maxAgeMs, STATUS_COST_FACTOR * last.tookMs)
}

/** Commit→ack latency spans a few ms (NOTIFY wake-up) to a minute (backoff while Kafka is down). */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
const BATCH_ROWS_BUCKETS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000]
const DEPENDENCIES: readonly FailedDependency[] = ['postgres', 'kafka', 'registry', 'other']

/**
 * The table-wide gauges (backlog, relays) are exported by the relay that holds shard 0's lease
 * and by no other, so `sum()` over relays counts each row once; the lease moves with shard 0.
 */
const BACKLOG_SHARD = 0

/** This package's version, from the package.json above this module (in src/ or in dist/src/). */
function packageVersion(): string {
  for (let dir = new URL('.', import.meta.url); dir.pathname !== '/'; dir = new URL('..', dir)) {
    const file = new URL('package.json', dir)
    if (!existsSync(file)) continue
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string }
    if (manifest.name === 'postbox' && manifest.version !== undefined) return manifest.version
  }
  return 'unknown'
}

export function createRelayMetrics(config: ResolvedConfig, options: RelayMetricsOptions = {}): RelayMetrics {
  const logger = options.logger ?? silentLogger
  const statusMaxAgeMs = options.statusMaxAgeMs ?? 2000
  const registry = new Registry()
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry })
  const registers = [registry]

  new Gauge({
    name: 'postbox_build_info',
    help: 'Always 1; the version label is the running Postbox version',
    labelNames: ['version'] as const,
    registers,
  }).set({ version: packageVersion() }, 1)
  const pending = new Gauge({
    name: 'postbox_pending_rows',
    help: 'Outbox rows waiting to be published (exported by the relay holding shard 0 only)',
    labelNames: ['topic'] as const,
    registers,
  })
  const oldestAge = new Gauge({
    name: 'postbox_oldest_pending_age_seconds',
    help: 'Age of the oldest pending outbox row, 0 when none is pending (exported by the relay holding shard 0 only)',
    labelNames: ['topic'] as const,
    registers,
  })
  const parked = new Gauge({
    name: 'postbox_parked_rows',
    help: 'Outbox rows parked because they cannot be published; later rows of their key wait (exported by the relay holding shard 0 only)',
    labelNames: ['topic'] as const,
    registers,
  })
  const relayShards = new Gauge({
    name: 'postbox_relay_shards',
    help: 'Shards whose live lease each registered relay holds (exported by the relay holding shard 0 only)',
    labelNames: ['relay'] as const,
    registers,
  })
  const heartbeatAge = new Gauge({
    name: 'postbox_relay_heartbeat_age_seconds',
    help: "Seconds since each registered relay's last heartbeat (exported by the relay holding shard 0 only)",
    labelNames: ['relay'] as const,
    registers,
  })
  const backlogExporter = new Gauge({
    name: 'postbox_backlog_exporter',
    help: '1 on the relay that exports the table-wide gauges (it holds shard 0), 0 on the others',
    registers,
  })
  const published = new Counter({
    name: 'postbox_published_total',
    help: 'Events published to Kafka and marked sent by this relay',
    labelNames: ['topic', 'event_type'] as const,
    registers,
  })
  const parkedTotal = new Counter({
    name: 'postbox_parked_total',
    help: 'Rows this relay parked because they cannot be published',
    registers,
  })
  const commitToAck = new Histogram({
    name: 'postbox_commit_to_ack_seconds',
    help: 'Time from the outbox row insert to the Kafka acknowledgement',
    labelNames: ['topic'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  })
  const batchRows = new Histogram({
    name: 'postbox_batch_rows',
    help: 'Rows published or parked per relay batch',
    buckets: BATCH_ROWS_BUCKETS,
    registers,
  })
  const errors = new Counter({
    name: 'postbox_errors_total',
    help: 'Failed relay steps by the dependency that failed (other: none explains it, see the log)',
    labelNames: ['dependency'] as const,
    registers,
  })
  const retries = new Counter({
    name: 'postbox_retries_total',
    help: 'Failed relay steps the relay backs off from and retries, by the dependency that failed',
    labelNames: ['dependency'] as const,
    registers,
  })
  const leasesHeld = new Gauge({
    name: 'postbox_leases_held',
    help: 'Shard leases this relay holds',
    registers,
  })
  const ready = new Gauge({
    name: 'postbox_relay_ready',
    help: '1 when the relay is publishing, 0 while it is starting or a dependency is failing',
    registers,
  })

  // Every known series exists from the start, so rate() and absence alerts work before the first event.
  for (const event of config.catalog.events) published.inc({ topic: event.topic, event_type: event.type }, 0)
  for (const topic of config.catalog.topics) commitToAck.zero({ topic })
  for (const dependency of DEPENDENCIES) {
    errors.inc({ dependency }, 0)
    retries.inc({ dependency }, 0)
  }

  let db: Database | null = null
  let lastStatus = { at: Number.NEGATIVE_INFINITY, tookMs: 0 }
  const queries = statusQueries(config.schema)
  const tableWide = [pending, oldestAge, parked, relayShards, heartbeatAge]

  const setTableWide = (topics: readonly TopicStatus[], relays: readonly RelayStatus[]) => {
    for (const gauge of tableWide) gauge.reset()
    for (const topic of config.catalog.topics) {
      pending.set({ topic }, 0)
      oldestAge.set({ topic }, 0)
      parked.set({ topic }, 0)
    }
    for (const t of topics) {
      pending.set({ topic: t.topic }, t.pending)
      oldestAge.set({ topic: t.topic }, t.oldest_pending_seconds ?? 0)
      parked.set({ topic: t.topic }, t.parked)
    }
    for (const r of relays) {
      relayShards.set({ relay: r.id }, r.shards.length)
      heartbeatAge.set({ relay: r.id }, r.heartbeat_seconds_ago)
    }
  }

  const refreshTableWide = async () => {
    if (!statusRefreshDue(Date.now(), lastStatus, statusMaxAgeMs)) return
    db ??= openDatabase(config.databaseUrl, `postbox-relay ${config.relay.id} metrics`, 1)
    try {
      const started = Date.now()
      const topics = await queries.topics(db)
      setTableWide(topics, await queries.relays(db))
      lastStatus = { at: Date.now(), tookMs: Date.now() - started }
    } catch (error) {
      // The scrape still answers with the last values; readiness reports the outage.
      errors.inc({ dependency: 'postgres' })
      logger.warn({ err: describeError(error) }, 'metrics: the outbox status query failed')
    }
  }

  const stopExporting = () => {
    for (const gauge of tableWide) gauge.reset()
    lastStatus = { at: Number.NEGATIVE_INFINITY, tookMs: 0 }
  }

  return {
    hooks: {
      onBatch(report: BatchReport) {
        batchRows.observe(report.published + report.parked)
        parkedTotal.inc(report.parked)
        // Labels are resolved once per topic and event type in the batch, not once per row.
        const perType = new Map<string, { topic: string; event_type: string; count: number }>()
        const latency = new Map<string, ReturnType<typeof commitToAck.labels>>()
        for (const row of report.rows) {
          const typeKey = `${row.topic}\0${row.eventType}`
          const counted = perType.get(typeKey)
          if (counted === undefined)
            perType.set(typeKey, { topic: row.topic, event_type: row.eventType, count: 1 })
          else counted.count++
          let observer = latency.get(row.topic)
          if (observer === undefined) {
            observer = commitToAck.labels({ topic: row.topic })
            latency.set(row.topic, observer)
          }
          observer.observe(row.latencySeconds)
        }
        for (const { count, ...labels } of perType.values()) published.inc(labels, count)
      },
      onFailure(report: FailureReport) {
        errors.inc({ dependency: report.dependency })
        if (report.retrying) retries.inc({ dependency: report.dependency })
      },
    },
    contentType: registry.contentType,
    async render(health) {
      const exporting = health.shards.includes(BACKLOG_SHARD)
      if (exporting) await refreshTableWide()
      else stopExporting()
      backlogExporter.set(exporting ? 1 : 0)
      leasesHeld.set(health.shards.length)
      ready.set(health.ready ? 1 : 0)
      return registry.metrics()
    },
    async close() {
      const open = db
      db = null
      await open?.close()
    },
  }
}
