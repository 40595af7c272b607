import type { ConnectionOptions } from 'node:tls'
import { ConfigError } from '../errors.js'
import { rememberSecret } from '../redact.js'
import { readPem } from './tls.js'

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full' | 'no-verify'

/** `postgres` in the config file; the same parameters work in DATABASE_URL's query string. */
export interface PostgresTlsSettings {
  /** libpq's meaning: require encrypts, verify-ca also checks the CA, verify-full also the host name. */
  sslmode?: SslMode
  /** CA file the server's certificate must chain to (default: Node's trusted CAs). */
  sslrootcert?: string
  /** Client certificate and key files. */
  sslcert?: string
  sslkey?: string
  /** Passphrase of the client key. */
  sslpassword?: string
}

const TLS_PARAMETERS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'sslpassword', 'ssl'] as const
const SSL_MODES: readonly string[] = [
  'disable',
  'allow',
  'prefer',
  'require',
  'verify-ca',
  'verify-full',
  'no-verify',
]

/** Adds the config file's TLS settings to a database URL; parameters already in the URL win. */
export function databaseUrlWithTls(databaseUrl: string, tls: PostgresTlsSettings | undefined): string {
  if (tls === undefined || Object.values(tls).every((v) => v === undefined)) return databaseUrl
  const url = parseDatabaseUrl(databaseUrl)
  for (const name of TLS_PARAMETERS) {
    const value = name === 'ssl' ? undefined : tls[name]
    if (value !== undefined && !url.searchParams.has(name)) url.searchParams.set(name, value)
  }
  return url.href
}

function parseDatabaseUrl(databaseUrl: string): URL {
  try {
    return new URL(databaseUrl)
  } catch (cause) {
    throw new ConfigError('the database URL (DATABASE_URL) is not a postgres:// URL', { cause })
  }
}

/** Connection options for pg: the URL without its TLS parameters, and the TLS options they mean. */
export interface PgConnectionOptions {
  connectionString: string
  ssl: false | ConnectionOptions
  /**
   * How long opening a connection may take (and, for a pool, waiting for a free connection)
   * before it fails retriably; 0 waits for ever.
   */
  connectionTimeoutMillis: number
}

/** Seconds a connection attempt may take when the URL has no `connect_timeout`. */
export const DEFAULT_CONNECT_TIMEOUT_SECONDS = 10

/**
 * libpq's `connect_timeout` (whole seconds; 0 waits for ever) from the URL, or the default: without
 * one a host that accepts nothing would hold every connect for the OS's TCP timeout (minutes).
 */
function connectTimeoutMillis(value: string | undefined): number {
  if (value === undefined) return DEFAULT_CONNECT_TIMEOUT_SECONDS * 1000
  if (!/^\d{1,6}$/.test(value.trim())) {
    throw new ConfigError(
      `connect_timeout "${value}" is not a whole number of seconds (DATABASE_URL or PGCONNECT_TIMEOUT)`,
    )
  }
  return Number(value.trim()) * 1000
}

/**
 * The one place pg connection options are built (every pool and client Postbox opens). TLS
 * parameters follow libpq, not pg's own parser (which verifies the certificate for `require`):
 * - disable, allow, prefer (and no sslmode without certificate files): no TLS — pg cannot fall back
 *   from TLS to plain text, so prefer/allow do not try TLS;
 * - require: TLS without checking the certificate — unless sslrootcert is set, then as verify-ca;
 * - verify-ca: the certificate must chain to sslrootcert (or Node's CAs); any host name;
 * - verify-full (also `ssl=true`, or certificate files without sslmode): the CA and the host name.
 */
export function pgConnectionOptions(databaseUrl: string): PgConnectionOptions {
  if (!/^postgres(ql)?:\/\//i.test(databaseUrl)) {
    return {
      connectionString: databaseUrl,
      ssl: false,
      connectionTimeoutMillis: connectTimeoutMillis(undefined),
    }
  }
  const url = parseDatabaseUrl(databaseUrl)
  const p = (name: string) => url.searchParams.get(name) ?? undefined
  const connectionTimeout = connectTimeoutMillis(p('connect_timeout'))
  url.searchParams.delete('connect_timeout')
  const sslmode = p('sslmode')
  const rootcert = p('sslrootcert')
  const cert = p('sslcert')
  const key = p('sslkey')
  const passphrase = p('sslpassword')
  const sslFlag = p('ssl')
  for (const name of TLS_PARAMETERS) url.searchParams.delete(name)
  const connectionString = url.href
  const options = (ssl: false | ConnectionOptions): PgConnectionOptions => ({
    connectionString,
    ssl,
    connectionTimeoutMillis: connectionTimeout,
  })

  if (sslmode !== undefined && !SSL_MODES.includes(sslmode)) {
    throw new ConfigError(
      `sslmode "${sslmode}" is not one of ${SSL_MODES.join(', ')} (DATABASE_URL, PGSSLMODE or postgres.sslmode)`,
    )
  }
  const mode =
    sslmode ??
    (sslFlag === 'true' || sslFlag === '1' || rootcert !== undefined || cert !== undefined
      ? 'verify-full'
      : 'disable')
  if (mode === 'disable' || mode === 'allow' || mode === 'prefer') return options(false)

  rememberSecret(passphrase)
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError('sslcert and sslkey go together: set both for a client certificate')
  }
  const files: ConnectionOptions = {
    ...(rootcert === undefined || rootcert === 'system' ? {} : { ca: readPem(rootcert, 'sslrootcert') }),
    ...(cert === undefined ? {} : { cert: readPem(cert, 'sslcert') }),
    ...(key === undefined ? {} : { key: readPem(key, 'sslkey') }),
    ...(passphrase === undefined ? {} : { passphrase }),
  }
  const verifyCa = mode === 'verify-ca' || (mode === 'require' && rootcert !== undefined)
  if (mode === 'verify-full') {
    return options({ ...files, rejectUnauthorized: true })
  }
  if (verifyCa) {
    return options({ ...files, rejectUnauthorized: true, checkServerIdentity: () => undefined })
  }
  return options({ ...files, rejectUnauthorized: false })
}
