// The write path: what a service that only enqueues needs. Nothing here may load the relay's
// dependencies (Kafka, the registry client, knex, node-cron, prom-client, pino); those live
// behind 'postbox/relay' (src/relay-api.ts).
export { defineEvent, type EventDefinition, type EventOptions } from './catalog/define-event.js'
export type { AvroSchema, BackfillSource, CleanupPolicy, Compatibility, EventKey } from './catalog/types.js'
export type { SqlClient } from './db/executor.js'
export {
  createOutbox,
  type EnqueueOptions,
  type EnqueueResult,
  type Outbox,
  type OutboxOptions,
} from './enqueue.js'
export {
  ConfigError,
  ConnectionSecurityError,
  DatabaseError,
  FencedError,
  LeaseLostError,
  MigrationError,
  PostboxError,
  SchemaError,
  UnavailableError,
  UnknownEventError,
  UnpublishableError,
  ValidationError,
} from './errors.js'
