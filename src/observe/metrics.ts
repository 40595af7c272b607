import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { ResolvedConfig } from '../config.js'
import { type Database, openDatabase } from '../db/pool.js'
import { statusQueries, type TopicStatus } from '../db/status-queries.js'
import { describeError } from '../errors.js'
import type { BatchReport, RelayHealth, RelayHooks } from '../relay/relay.js'
import { type Logger, silentLogger } from './logger.js'

export interface RelayMetricsOptions {
  logger?: Logger
  /**
   * Backlog gauges come from a status query run at scrape time; scrapes closer together than
   * this reuse the last answer, so several scrapers never load the database (default 2000 ms).
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

/** Commit→ack latency spans a few ms (NOTIFY wake-up) to a minute (backoff while Kafka is down). */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
const BATCH_SIZE_BUCKETS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000]

export function createRelayMetrics(config: ResolvedConfig, options: RelayMetricsOptions = {}): RelayMetrics {
  const logger = options.logger ?? silentLogger
  const statusMaxAgeMs = options.statusMaxAgeMs ?? 2000
  const registry = new Registry()
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry })
  const registers = [registry]

  const pending = new Gauge({
    name: 'postbox_pending_rows',
    help: 'Outbox rows waiting to be published',
    labelNames: ['topic'] as const,
    registers,
  })
  const oldestAge = new Gauge({
    name: 'postbox_oldest_pending_age_seconds',
    help: 'Age of the oldest pending outbox row (0 when none is pending)',
    labelNames: ['topic'] as const,
    registers,
  })
  const parked = new Gauge({
    name: 'postbox_parked_rows',
    help: 'Outbox rows parked because they cannot be published; later rows of their key wait',
    labelNames: ['topic'] as const,
    registers,
  })
  const published = new Counter({
    name: 'postbox_published_total',
    help: 'Events published to Kafka and marked sent by this relay',
    labelNames: ['topic', 'event_type'] as const,
    registers,
  })
  const commitToAck = new Histogram({
    name: 'postbox_commit_to_ack_seconds',
    help: 'Time from the outbox row insert to the Kafka acknowledgement',
    buckets: LATENCY_BUCKETS,
    registers,
  })
  const batchSize = new Histogram({
    name: 'postbox_batch_size',
    help: 'Rows published or parked per relay batch',
    buckets: BATCH_SIZE_BUCKETS,
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

  let db: Database | null = null
  let lastStatusAt = Number.NEGATIVE_INFINITY
  const queries = statusQueries(config.schema)

  const setBacklog = (topics: readonly TopicStatus[]) => {
    for (const gauge of [pending, oldestAge, parked]) gauge.reset()
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
  }

  const refreshBacklog = async () => {
    if (Date.now() - lastStatusAt < statusMaxAgeMs) return
    db ??= openDatabase(config.databaseUrl, `postbox-relay ${config.relay.id} metrics`, 1)
    try {
      setBacklog(await queries.topics(db))
      lastStatusAt = Date.now()
    } catch (error) {
      // The scrape still answers with the last values; readiness reports the outage.
      logger.warn({ err: describeError(error) }, 'metrics: the outbox status query failed')
    }
  }
  setBacklog([])

  return {
    hooks: {
      onBatch(report: BatchReport) {
        batchSize.observe(report.published + report.parked)
        for (const row of report.rows) {
          published.inc({ topic: row.topic, event_type: row.eventType })
          commitToAck.observe(row.latencySeconds)
        }
      },
    },
    contentType: registry.contentType,
    async render(health) {
      await refreshBacklog()
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
