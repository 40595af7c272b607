export { defineEvent, type EventDefinition, type EventOptions } from './catalog/define-event.js'
export type { AvroSchema, BackfillSource, CleanupPolicy, Compatibility, EventKey } from './catalog/types.js'
export { type PostboxSettings, type RelaySettings, type ResolvedConfig, resolveConfig } from './config.js'
export type { SqlClient } from './db/executor.js'
export { type MigrateResult, migrate } from './db/migrate.js'
export {
  createOutbox,
  type EnqueueOptions,
  type EnqueueResult,
  type Outbox,
  type OutboxOptions,
} from './enqueue.js'
export {
  ConfigError,
  DatabaseError,
  LeaseLostError,
  MigrationError,
  PostboxError,
  SchemaError,
  UnavailableError,
  UnknownEventError,
  UnpublishableError,
  ValidationError,
} from './errors.js'
export { type RelayHttpOptions, type RelayHttpServer, serveRelayHttp } from './observe/http-server.js'
export type { Logger, LogLevel } from './observe/logger.js'
export { createRelayMetrics, type RelayMetrics, type RelayMetricsOptions } from './observe/metrics.js'
export {
  type BatchReport,
  Relay,
  type RelayHealth,
  type RelayHooks,
  type StallReason,
} from './relay/relay.js'
