import { hostname } from 'node:os'
import { type Catalog, createCatalog } from './catalog/catalog.js'
import type { AnyEventDefinition, EventDefinition } from './catalog/define-event.js'
import {
  type KafkaSecurity,
  type KafkaSecuritySettings,
  resolveKafkaSecurity,
} from './connect/kafka-security.js'
import { databaseUrlWithTls, type PostgresTlsSettings } from './connect/postgres-tls.js'
import {
  type RegistryConnection,
  type RegistrySettings,
  resolveRegistryConnection,
} from './connect/registry-auth.js'
import { quoteIdentifier } from './db/identifier.js'
import { durationMs } from './duration.js'
import { ConfigError } from './errors.js'
import type { LogLevel } from './observe/logger.js'
import { isValidSchedule } from './relay/schedule.js'

export type DeliveryMode = 'at-least-once' | 'exactly-once'

/** What a config file (postbox.config.ts) or a program passes in; every field but the events has a default or env fallback. */
export interface PostboxSettings {
  // biome-ignore lint/suspicious/noExplicitAny: a catalog holds events of every row type
  events: readonly EventDefinition<any, unknown, any>[]
  databaseUrl?: string
  /** TLS for Postgres (the same parameters work in databaseUrl's query string, which wins). */
  postgres?: PostgresTlsSettings
  kafka?: { brokers?: readonly string[] | string; clientId?: string } & KafkaSecuritySettings
  registry?: RegistrySettings
  /** Postgres schema of the outbox tables (default "postbox"). */
  schema?: string
  logLevel?: LogLevel
  relay?: RelaySettings
}

export interface RelaySettings {
  /** Relay identity in leases and logs (default host-pid-random). */
  id?: string
  /** Rows claimed and published per batch (default 2000); also the most one crash can re-publish. */
  batchSize?: number
  /** Longest wait between polls when idle (default 1000 ms); NOTIFY usually wakes the relay sooner. */
  pollIntervalMs?: number
  /** First wait after the outbox runs dry; doubles up to pollIntervalMs (default 20 ms). */
  minPollIntervalMs?: number
  /** LISTEN for the enqueue NOTIFY (default true). */
  listen?: boolean
  /** Register schemas missing from the registry at start-up (default true). */
  autoRegister?: boolean
  /** Create missing topics at start-up (default true). */
  createTopics?: boolean
  /** Partitions of topics the relay creates (default 3). */
  topicPartitions?: number
  /** Shard lease time-to-live (default 10 000 ms); a dead relay's shards move after this. */
  leaseTtlMs?: number
  /** Largest encoded value; larger rows are parked (default 1 000 000 bytes, under Kafka's 1 MiB default). */
  maxMessageBytes?: number
  /** Retry backoff bounds for unavailable dependencies (default 100 ms … 10 000 ms, with jitter). */
  backoff?: { initialMs?: number; maxMs?: number }
  /** Warn and report when pending rows wait this long on an open transaction (default 10 000 ms). */
  stallWarningMs?: number
  /** HTTP port for /metrics, /healthz, /readyz (default off). */
  httpPort?: number | null
  /**
   * at-least-once (default): an idempotent producer; a crash can re-publish one batch.
   * exactly-once: a Kafka transaction per shard and batch; read_committed consumers see each row once.
   */
  delivery?: DeliveryMode
  /**
   * Delete sent rows older than `sentOlderThan` ("7d", "12h") on a node-cron `schedule`
   * (default every 10 minutes), in batches; one relay at a time runs it. Off by default.
   */
  retention?: { sentOlderThan: string; schedule?: string; batchSize?: number } | null
  /** exactly-once: transactional ids are `<prefix>.<shard>` (default `postbox.<database>.<schema>`). */
  transactionalIdPrefix?: string
}

export interface ResolvedConfig {
  readonly catalog: Catalog
  readonly databaseUrl: string
  readonly kafka: {
    readonly brokers: readonly string[]
    readonly clientId: string
    readonly security: KafkaSecurity
  }
  readonly registry: RegistryConnection
  readonly schema: string
  readonly logLevel: LogLevel
  readonly relay: Readonly<Required<Omit<RelaySettings, 'backoff' | 'httpPort' | 'retention'>>> & {
    readonly backoff: { readonly initialMs: number; readonly maxMs: number }
    readonly httpPort: number | null
    readonly retention: {
      readonly sentOlderThanMs: number
      readonly schedule: string
      readonly batchSize: number
    } | null
    readonly heartbeatMs: number
  }
}

function positiveInt(value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v <= 0)
    throw new ConfigError(`${name} must be a positive integer, got ${String(value)}`)
  return v
}

function port(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 65_535)
    throw new ConfigError(`${name} must be a TCP port (0 … 65535; 0 picks a free one), got ${String(value)}`)
  return value
}

function required(value: string | undefined, name: string, env: string): string {
  if (value === undefined || value === '') {
    throw new ConfigError(`${name} is not set: set ${env} or put it in postbox.config`)
  }
  return value
}

function resolveRetention(retention: RelaySettings['retention']) {
  if (retention === undefined || retention === null) return null
  const sentOlderThanMs = durationMs(String(retention.sentOlderThan))
  if (sentOlderThanMs === null) {
    throw new ConfigError(
      `relay.retention.sentOlderThan "${retention.sentOlderThan}" is not a duration such as 7d or 12h`,
    )
  }
  const schedule = retention.schedule ?? '*/10 * * * *'
  if (!isValidSchedule(schedule))
    throw new ConfigError(`relay.retention.schedule "${schedule}" is not a cron expression`)
  return Object.freeze({
    sentOlderThanMs,
    schedule,
    batchSize: positiveInt(retention.batchSize, 1000, 'relay.retention.batchSize'),
  })
}

function databaseName(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || 'postgres'
  } catch {
    return 'postgres'
  }
}

/** Validates settings once, fills documented defaults, and freezes the result. */
export function resolveConfig(settings: PostboxSettings): ResolvedConfig {
  if (!Array.isArray(settings.events) || settings.events.length === 0) {
    throw new ConfigError('`events` must list at least one event made with defineEvent()')
  }
  const schema = settings.schema ?? 'postbox'
  quoteIdentifier(schema)
  const brokersSetting = settings.kafka?.brokers
  const brokers = typeof brokersSetting === 'string' ? brokersSetting.split(',') : [...(brokersSetting ?? [])]
  const cleanBrokers = brokers.map((b) => b.trim()).filter((b) => b !== '')
  if (cleanBrokers.length === 0)
    throw new ConfigError('Kafka brokers are not set: set KAFKA_BROKERS or kafka.brokers')
  const r = settings.relay ?? {}
  const pollIntervalMs = positiveInt(r.pollIntervalMs, 1000, 'relay.pollIntervalMs')
  const leaseTtlMs = positiveInt(r.leaseTtlMs, 10_000, 'relay.leaseTtlMs')
  const initialMs = positiveInt(r.backoff?.initialMs, 100, 'relay.backoff.initialMs')
  const maxMs = positiveInt(r.backoff?.maxMs, 10_000, 'relay.backoff.maxMs')
  if (maxMs < initialMs) throw new ConfigError('relay.backoff.maxMs must be at least relay.backoff.initialMs')
  if (r.delivery !== undefined && r.delivery !== 'at-least-once' && r.delivery !== 'exactly-once') {
    throw new ConfigError(
      `relay.delivery "${String(r.delivery)}" is not supported: use "at-least-once" or "exactly-once"`,
    )
  }
  const databaseUrl = databaseUrlWithTls(
    required(settings.databaseUrl, 'the database URL', 'DATABASE_URL'),
    settings.postgres,
  )
  const transactionalIdPrefix = r.transactionalIdPrefix ?? `postbox.${databaseName(databaseUrl)}.${schema}`
  if (!/^[a-zA-Z0-9._-]{1,200}$/.test(transactionalIdPrefix)) {
    throw new ConfigError(
      `relay.transactionalIdPrefix "${transactionalIdPrefix}" may use only letters, digits, . _ - (it names a topic)`,
    )
  }
  const config: ResolvedConfig = {
    catalog: createCatalog(settings.events as readonly AnyEventDefinition[]),
    databaseUrl,
    kafka: Object.freeze({
      brokers: Object.freeze(cleanBrokers),
      clientId: settings.kafka?.clientId ?? 'postbox',
      security: resolveKafkaSecurity(settings.kafka),
    }),
    registry: resolveRegistryConnection({
      ...settings.registry,
      url: required(settings.registry?.url, 'the schema registry URL', 'SCHEMA_REGISTRY_URL'),
    }),
    schema,
    logLevel: settings.logLevel ?? 'info',
    relay: Object.freeze({
      id: r.id ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      batchSize: positiveInt(r.batchSize, 2000, 'relay.batchSize'),
      pollIntervalMs,
      minPollIntervalMs: Math.min(
        positiveInt(r.minPollIntervalMs, 20, 'relay.minPollIntervalMs'),
        pollIntervalMs,
      ),
      listen: r.listen ?? true,
      autoRegister: r.autoRegister ?? true,
      createTopics: r.createTopics ?? true,
      topicPartitions: positiveInt(r.topicPartitions, 3, 'relay.topicPartitions'),
      leaseTtlMs,
      heartbeatMs: Math.max(100, Math.floor(leaseTtlMs / 4)),
      maxMessageBytes: positiveInt(r.maxMessageBytes, 1_000_000, 'relay.maxMessageBytes'),
      backoff: Object.freeze({ initialMs, maxMs }),
      stallWarningMs: positiveInt(r.stallWarningMs, 10_000, 'relay.stallWarningMs'),
      httpPort: r.httpPort === undefined || r.httpPort === null ? null : port(r.httpPort, 'relay.httpPort'),
      delivery: r.delivery ?? 'at-least-once',
      transactionalIdPrefix,
      retention: resolveRetention(r.retention),
    }),
  }
  return Object.freeze(config)
}
