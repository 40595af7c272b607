import { ConnectionSecurityError, DatabaseError, PostboxError, UnavailableError } from '../errors.js'

/**
 * SQLSTATEs that say "the server or the connection is not usable right now": retrying later
 * succeeds. Class 08 (connection exception) is matched as a whole; see sqlstateReason.
 */
const UNAVAILABLE_SQLSTATES: Readonly<Record<string, string>> = {
  '57P01': 'the server is shutting down (admin shutdown)',
  '57P02': 'the server crashed (crash shutdown)',
  '57P03': 'the server is starting up or shutting down (cannot connect now)',
  '53300': 'too many connections',
  '40001': 'the transaction conflicted with another (serialization failure)',
  '40P01': 'the transaction deadlocked with another',
}

/** Socket errors Node reports for a connection that was refused, reset or timed out. */
const UNAVAILABLE_SOCKET_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
])

/**
 * pg raises these without any code when the connection is lost or cannot be made (pg/lib/client.js,
 * pg-pool/index.js). They are matched by their exact text, never by a pattern, so that an error
 * that only mentions a connection is not mistaken for a lost one.
 */
const CONNECTION_LOST_MESSAGES: ReadonlySet<string> = new Set([
  'Connection terminated',
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  // pg.Client's own connectionTimeoutMillis timer, when it fires before the pool's.
  'timeout expired',
  'Client has encountered a connection error and is not queryable',
  'timeout exceeded when trying to connect',
])

function sqlstateReason(sqlstate: string, routine: string | undefined): string | undefined {
  if (sqlstate.startsWith('08')) return 'the connection failed'
  // 55000 is a general "not in the required state"; raised by the server's connection check
  // (routine CheckMyDatabase) it means ALLOW_CONNECTIONS is off for now: retrying helps.
  if (sqlstate === '55000' && routine === 'CheckMyDatabase')
    return 'the database is not accepting connections for now'
  return UNAVAILABLE_SQLSTATES[sqlstate]
}

/** Node's TLS verdicts on a server certificate: no retry helps, the settings must change. */
const UNTRUSTED_CERTIFICATE_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

function field(error: unknown, name: 'code' | 'severity' | 'routine'): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const value = (error as Record<string, unknown>)[name]
  return typeof value === 'string' ? value : undefined
}

/** An error the server sent: pg copies `severity` and the SQLSTATE `code` from its error response. */
function sqlstateOf(error: unknown): string | undefined {
  return field(error, 'severity') === undefined ? undefined : field(error, 'code')
}

/**
 * The one place Postgres errors are classified. A PostboxError passes unchanged; a failure that
 * retrying can fix becomes `UnavailableError('postgres')`; anything else is a fatal
 * `DatabaseError` carrying the SQLSTATE. The original error is always the `cause`.
 */
export function classifyPgError(error: unknown): PostboxError {
  if (error instanceof PostboxError) return error
  const sqlstate = sqlstateOf(error)
  if (sqlstate !== undefined) {
    const reason = sqlstateReason(sqlstate, field(error, 'routine'))
    return reason === undefined
      ? new DatabaseError(sqlstate, { cause: error })
      : new UnavailableError('postgres', reason, { cause: error })
  }
  const code = field(error, 'code')
  if (code !== undefined && UNTRUSTED_CERTIFICATE_CODES.has(code)) {
    return new ConnectionSecurityError(
      'postgres',
      `the server's TLS certificate is not trusted (${code}): set sslrootcert (DATABASE_URL, postgres.sslrootcert or PGSSLROOTCERT) to the CA that signed it, or check the host name for sslmode=verify-full`,
      { cause: error },
    )
  }
  if (code !== undefined && UNAVAILABLE_SOCKET_CODES.has(code)) {
    return new UnavailableError('postgres', 'cannot reach the server', { cause: error })
  }
  if (code === undefined && error instanceof Error && CONNECTION_LOST_MESSAGES.has(error.message)) {
    return new UnavailableError('postgres', 'the connection was lost', { cause: error })
  }
  return new DatabaseError(null, { cause: error })
}

/** Runs one database call and rethrows its failure classified. */
export async function classified<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    throw classifyPgError(error)
  }
}

/** 42P01 undefined_table, raw from pg or classified: a migration that adds the table is pending. */
export function isUndefinedTable(error: unknown): boolean {
  if (error instanceof DatabaseError) return error.sqlstate === '42P01'
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '42P01'
}
