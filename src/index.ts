export { defineEvent, type EventDefinition, type EventOptions } from './catalog/define-event.js'
export type { AvroSchema, CleanupPolicy, Compatibility, EventKey } from './catalog/types.js'
export { createOutbox, type Outbox, type OutboxOptions, type EnqueueOptions, type EnqueueResult } from './enqueue.js'
export type { SqlClient } from './db/executor.js'
export { migrate, type MigrateResult } from './db/migrate.js'
export { resolveConfig, type PostboxSettings, type RelaySettings, type ResolvedConfig } from './config.js'
export { Relay, type RelayHealth, type RelayHooks, type StallReason } from './relay/relay.js'
export {
  PostboxError,
  ConfigError,
  ValidationError,
  UnknownEventError,
  UnpublishableError,
  SchemaError,
  MigrationError,
  LeaseLostError,
  UnavailableError,
} from './errors.js'
export type { Logger, LogLevel } from './observe/logger.js'
