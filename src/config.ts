import { hostname } from 'node:os'
import { type Catalog, createCatalog } from './catalog/catalog.js'
import type { AnyEventDefinition, EventDefinition } from './catalog/define-event.js'
import { parseLogLevel, parseSettings } from './config-schema.js'
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
import type { SentRows } from './db/outbox-queries.js'
import { DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_SCHEMA } from './defaults.js'
import { durationMs } from './duration.js'
import { ConfigError } from './errors.js'
import type { LogLevel } from './observe/logger.js'

/** Default bound on the stored bytes one claim takes (relay.maxBatchBytes). */
const DEFAULT_MAX_BATCH_BYTES = 16 * 1024 * 1024

export type DeliveryMode = 'at-least-once' | 'exactly-once'
export type { SentRows }

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
  /**
   * Rows claimed and published per batch (default 2000, 8000 with exactly-once delivery); with
   * at-least-once delivery also the most one crash can re-publish.
   */
  batchSize?: number
  /**
   * Most bytes of stored payloads and headers (JSON text) claimed per batch (default 16 MiB); a
   * claim stops adding rows at this bound but always takes one, so relay memory stays bounded.
   */
  maxBatchBytes?: number
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
  /** Interface the HTTP port listens on (default 127.0.0.1, loopback only; "0.0.0.0" in a container). */
  httpHost?: string
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
  /**
   * What becomes of a row once Kafka has acknowledged it. keep (default): it is marked sent and
   * stays for `replay` until retention or `purge` deletes it. delete: the statement that would mark
   * it deletes it instead, which costs Postgres less than half as much per row; nothing is left
   * to replay (`postbox status` still counts them: migration 0006).
   */
  sentRows?: SentRows
  /**
   * exactly-once: transactional ids are `<prefix>.<shard>`, the progress topic `<prefix>.progress`.
   * Default `postbox.<Postgres system identifier>.<database>.<schema>`, read by the relay at start-up.
   */
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
  readonly relay: Readonly<
    Required<Omit<RelaySettings, 'backoff' | 'httpPort' | 'retention' | 'transactionalIdPrefix'>>
  > & {
    readonly backoff: { readonly initialMs: number; readonly maxMs: number }
    /** null: the relay derives it from the Postgres cluster at start-up (src/relay/transactional-id.ts). */
    readonly transactionalIdPrefix: string | null
    readonly httpPort: number | null
    readonly retention: {
      readonly sentOlderThanMs: number
      readonly schedule: string
      readonly batchSize: number
    } | null
    readonly heartbeatMs: number
  }
}

/** What every command needs to reach its dependencies; each is checked when it is first required. */
export interface ConnectionConfig {
  readonly databaseUrl: string | undefined
  readonly schema: string
  readonly kafka: { readonly brokers: readonly string[]; readonly clientId: string }
  readonly registryUrl: string | undefined
  readonly logLevel: LogLevel
}

/** The forms pg connects with: a URL of these schemes (a Unix socket directory as `?host=/dir`). */
const POSTGRES_URL = /^(postgres|postgresql|socket):\/\//i

/**
 * Connection settings with their defaults; only what is set is checked (a command asks for the rest).
 * The CLI has already picked the database URL (--database-url, DATABASE_URL, the PG* variables, the
 * config file: see src/cli/settings.ts).
 */
export function resolveConnection(settings: Omit<PostboxSettings, 'events'>): ConnectionConfig {
  // pg would read "notaurl" as database "notaurl" on host "base" and fail on DNS; say what is wrong.
  // The value is not echoed: a URL missing its scheme may still hold a password.
  if (settings.databaseUrl && !POSTGRES_URL.test(settings.databaseUrl.trim()))
    throw new ConfigError(
      'the database URL is not a PostgreSQL URL: expected postgres://user@host:5432/database; ' +
        'check DATABASE_URL (or -d/--database-url, databaseUrl in the config)',
    )
  const schema = settings.schema ?? DEFAULT_SCHEMA
  quoteIdentifier(schema)
  const brokersSetting = settings.kafka?.brokers
  const brokers = typeof brokersSetting === 'string' ? brokersSetting.split(',') : [...(brokersSetting ?? [])]
  const logLevel = settings.logLevel === undefined ? 'info' : parseLogLevel(settings.logLevel, 'logLevel')
  return Object.freeze({
    databaseUrl: settings.databaseUrl
      ? databaseUrlWithTls(settings.databaseUrl, settings.postgres)
      : undefined,
    schema,
    kafka: Object.freeze({
      brokers: Object.freeze(brokers.map((b) => b.trim()).filter((b) => b !== '')),
      clientId: settings.kafka?.clientId ?? 'postbox',
    }),
    registryUrl: settings.registry?.url || undefined,
    logLevel,
  })
}

export function requireDatabaseUrl(connection: ConnectionConfig): string {
  if (connection.databaseUrl === undefined)
    throw new ConfigError('the database URL is not set: set DATABASE_URL or databaseUrl in the config file')
  return connection.databaseUrl
}

/** The registry URL (required) with the credentials and TLS files of the settings. */
export function registryConnectionOf(
  settings: Pick<PostboxSettings, 'registry'>,
  connection: ConnectionConfig,
): RegistryConnection {
  return resolveRegistryConnection({ ...settings.registry, url: requireRegistryUrl(connection) })
}

export function requireRegistryUrl(connection: ConnectionConfig): string {
  if (connection.registryUrl === undefined)
    throw new ConfigError(
      'the schema registry URL is not set: set SCHEMA_REGISTRY_URL or registry.url in the config file',
    )
  return connection.registryUrl
}

export function requireKafkaBrokers(connection: ConnectionConfig): readonly string[] {
  if (connection.kafka.brokers.length === 0)
    throw new ConfigError('Kafka brokers are not set: set KAFKA_BROKERS or kafka.brokers in the config file')
  return connection.kafka.brokers
}

function resolveRetention(retention: RelaySettings['retention']) {
  if (retention === undefined || retention === null) return null
  return Object.freeze({
    // parseSettings has checked that it is a duration.
    sentOlderThanMs: durationMs(retention.sentOlderThan) ?? 0,
    schedule: retention.schedule ?? '*/10 * * * *',
    batchSize: retention.batchSize ?? 1000,
  })
}

/**
 * Exactly-once publishes one batch at a time, as one Kafka transaction per shard, and a crash
 * re-publishes nothing, so it takes larger batches: 100,000-row drains measured side by side on
 * the development machine gave 12,400-15,900 events/s at 2,000 rows, 19,200 at 4,000 and
 * 18,000-24,400 at 8,000. At-least-once pipelines its batches and gains nothing above 2,000,
 * which also bounds what a crash re-publishes.
 */
function defaultBatchSize(delivery: DeliveryMode): number {
  return delivery === 'exactly-once' ? 8000 : 2000
}

/** Validates settings once, fills documented defaults, and freezes the result. */
export function resolveConfig(settings: PostboxSettings, source = 'the settings'): ResolvedConfig {
  parseSettings(settings, source)
  if (settings.events.length === 0) {
    throw new ConfigError('`events` must list at least one event made with defineEvent()')
  }
  const connection = resolveConnection(settings)
  const { schema } = connection
  const cleanBrokers = requireKafkaBrokers(connection)
  const r = settings.relay ?? {}
  const pollIntervalMs = r.pollIntervalMs ?? 1000
  const leaseTtlMs = r.leaseTtlMs ?? 10_000
  const initialMs = r.backoff?.initialMs ?? 100
  const maxMs = r.backoff?.maxMs ?? 10_000
  if (maxMs < initialMs) throw new ConfigError('relay.backoff.maxMs must be at least relay.backoff.initialMs')
  if (r.sentRows === 'delete' && r.retention !== undefined && r.retention !== null) {
    throw new ConfigError(
      "relay.retention has no sent rows to delete when relay.sentRows is 'delete': remove one of them",
    )
  }
  const databaseUrl = requireDatabaseUrl(connection)
  const config: ResolvedConfig = {
    catalog: createCatalog(settings.events as readonly AnyEventDefinition[]),
    databaseUrl,
    kafka: Object.freeze({
      brokers: cleanBrokers,
      clientId: connection.kafka.clientId,
      security: resolveKafkaSecurity(settings.kafka),
    }),
    registry: registryConnectionOf(settings, connection),
    schema,
    logLevel: connection.logLevel,
    relay: Object.freeze({
      id: r.id ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      batchSize: r.batchSize ?? defaultBatchSize(r.delivery ?? 'at-least-once'),
      maxBatchBytes: r.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES,
      pollIntervalMs,
      minPollIntervalMs: Math.min(r.minPollIntervalMs ?? 20, pollIntervalMs),
      listen: r.listen ?? true,
      autoRegister: r.autoRegister ?? true,
      createTopics: r.createTopics ?? true,
      topicPartitions: r.topicPartitions ?? 3,
      leaseTtlMs,
      heartbeatMs: Math.max(100, Math.floor(leaseTtlMs / 4)),
      maxMessageBytes: r.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      backoff: Object.freeze({ initialMs, maxMs }),
      stallWarningMs: r.stallWarningMs ?? 10_000,
      httpPort: r.httpPort ?? null,
      httpHost: r.httpHost ?? '127.0.0.1',
      delivery: r.delivery ?? 'at-least-once',
      // parseSettings has checked an explicit one; the default needs the database (the relay reads it).
      transactionalIdPrefix: r.transactionalIdPrefix ?? null,
      retention: resolveRetention(r.retention),
      sentRows: r.sentRows ?? 'keep',
    }),
  }
  return Object.freeze(config)
}
