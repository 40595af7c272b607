// The relay side, published as 'postbox/relay': the daemon, its configuration, migrations,
// metrics and HTTP endpoints. Event definitions and errors come from 'postbox'.
export { type PostboxSettings, type RelaySettings, type ResolvedConfig, resolveConfig } from './config.js'
export type { KafkaSaslSettings, KafkaSecuritySettings } from './connect/kafka-security.js'
export type { PostgresTlsSettings, SslMode } from './connect/postgres-tls.js'
export type { RegistrySettings } from './connect/registry-auth.js'
export type { TlsFileSettings } from './connect/tls.js'
export { type MigrateResult, migrate } from './db/migrate.js'
export { type RelayHttpOptions, type RelayHttpServer, serveRelayHttp } from './observe/http-server.js'
export type { Logger, LogLevel } from './observe/logger.js'
export { createRelayMetrics, type RelayMetrics, type RelayMetricsOptions } from './observe/metrics.js'
export {
  type BackfillOptions,
  type BackfillResult,
  BackfillStoppedError,
  backfill,
  previewBackfill,
} from './ops/backfill.js'
export {
  type BatchReport,
  type FailureReport,
  Relay,
  type RelayHealth,
  type RelayHooks,
  type StallReason,
} from './relay/relay.js'
