import type { PostboxSettings } from '../config.js'
import { ConfigError } from '../errors.js'
import type { KafkaSaslSettings, KafkaSecuritySettings } from './kafka-security.js'
import { databaseUrlFromLibpq, type LibpqEnvironment, withPgpass } from './libpq.js'
import { databaseUrlWithTls } from './postgres-tls.js'
import type { RegistrySettings } from './registry-auth.js'
import type { TlsFileSettings } from './tls.js'

/** The connection-security variables bin/ reads and passes down (documented in the README). */
export const CONNECTION_ENVIRONMENT = [
  'KAFKA_SSL',
  'KAFKA_SSL_CA',
  'KAFKA_SSL_CERT',
  'KAFKA_SSL_KEY',
  'KAFKA_SSL_KEY_PASSPHRASE',
  'KAFKA_SSL_REJECT_UNAUTHORIZED',
  'KAFKA_SASL_MECHANISM',
  'KAFKA_SASL_USERNAME',
  'KAFKA_SASL_PASSWORD',
  'SCHEMA_REGISTRY_USERNAME',
  'SCHEMA_REGISTRY_PASSWORD',
  'SCHEMA_REGISTRY_TOKEN',
  'SCHEMA_REGISTRY_CA',
  'SCHEMA_REGISTRY_CERT',
  'SCHEMA_REGISTRY_KEY',
  'SCHEMA_REGISTRY_KEY_PASSPHRASE',
  'SCHEMA_REGISTRY_REJECT_UNAUTHORIZED',
  'PGHOST',
  'PGPORT',
  'PGUSER',
  'PGPASSWORD',
  'PGDATABASE',
  'PGSSLMODE',
  'PGSSLROOTCERT',
  'PGSSLCERT',
  'PGSSLKEY',
  'PGPASSFILE',
  'PGCONNECT_TIMEOUT',
] as const

export type ConnectionEnvironment = Partial<Record<(typeof CONNECTION_ENVIRONMENT)[number], string>> &
  LibpqEnvironment

/** Picks the connection variables out of a process environment (for bin/). */
export function connectionEnvironment(env: Record<string, string | undefined>): ConnectionEnvironment {
  const out: Record<string, string> = {}
  for (const name of CONNECTION_ENVIRONMENT) {
    const value = env[name]
    if (value !== undefined && value !== '') out[name] = value
  }
  return out
}

function flag(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined) return undefined
  if (/^(true|1|yes|on)$/i.test(value)) return true
  if (/^(false|0|no|off)$/i.test(value)) return false
  throw new ConfigError(`${name} must be true or false, got "${value}"`)
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}

function tlsFromEnv(
  env: ConnectionEnvironment,
  prefix: 'KAFKA_SSL' | 'SCHEMA_REGISTRY',
): Partial<TlsFileSettings> {
  const e = env as Record<string, string | undefined>
  return definedOnly({
    ca: e[`${prefix}_CA`],
    cert: e[`${prefix}_CERT`],
    key: e[`${prefix}_KEY`],
    passphrase: e[`${prefix}_KEY_PASSPHRASE`],
    rejectUnauthorized: flag(e[`${prefix}_REJECT_UNAUTHORIZED`], `${prefix}_REJECT_UNAUTHORIZED`),
  })
}

function kafkaFromEnv(env: ConnectionEnvironment, file: KafkaSecuritySettings): KafkaSecuritySettings {
  const tls = tlsFromEnv(env, 'KAFKA_SSL')
  const enabled = flag(env.KAFKA_SSL, 'KAFKA_SSL')
  const fileTls = typeof file.ssl === 'object' ? file.ssl : {}
  const ssl: KafkaSecuritySettings['ssl'] =
    enabled === false
      ? false
      : enabled === true || Object.keys(tls).length > 0
        ? { ...fileTls, ...tls }
        : file.ssl
  const sasl: KafkaSaslSettings | undefined =
    env.KAFKA_SASL_MECHANISM === undefined
      ? file.sasl
      : ({
          mechanism: env.KAFKA_SASL_MECHANISM,
          username: env.KAFKA_SASL_USERNAME ?? '',
          password: env.KAFKA_SASL_PASSWORD ?? '',
        } as KafkaSaslSettings)
  return definedOnly({ ssl, sasl })
}

function registryFromEnv(env: ConnectionEnvironment, file: RegistrySettings): RegistrySettings {
  const tls = tlsFromEnv(env, 'SCHEMA_REGISTRY')
  return definedOnly({
    ...file,
    username: env.SCHEMA_REGISTRY_USERNAME ?? file.username,
    password: env.SCHEMA_REGISTRY_PASSWORD ?? file.password,
    token: env.SCHEMA_REGISTRY_TOKEN ?? file.token,
    ssl: Object.keys(tls).length > 0 ? { ...file.ssl, ...tls } : file.ssl,
  })
}

/**
 * Settings with the connection variables applied over the config file's: Kafka TLS and SASL,
 * registry credentials and TLS, and — when neither DATABASE_URL nor databaseUrl is set — the
 * database from libpq's PG* variables; a URL without password takes it from .pgpass.
 */
export function withConnectionEnvironment(
  settings: PostboxSettings,
  env: ConnectionEnvironment,
): PostboxSettings {
  const libpqUrl = settings.databaseUrl || databaseUrlFromLibpq(env)
  return {
    ...settings,
    databaseUrl:
      libpqUrl === undefined ? undefined : databaseUrlWithTls(withPgpass(libpqUrl, env), settings.postgres),
    kafka: { ...settings.kafka, ...kafkaFromEnv(env, settings.kafka ?? {}) },
    registry: registryFromEnv(env, settings.registry ?? {}),
  }
}
