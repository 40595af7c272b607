import { ConfigError } from '../errors.js'

/** libpq's connection variables, as psql reads them (bin/ reads the environment and passes them in). */
export interface LibpqEnvironment {
  PGHOST?: string
  PGPORT?: string
  PGUSER?: string
  PGPASSWORD?: string
  PGDATABASE?: string
  PGSSLMODE?: string
}

const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const

const set = (value: string | undefined): value is string => value !== undefined && value !== ''

/**
 * The postgres:// URL the libpq variables describe, or undefined when none is set (an empty
 * variable counts as unset). As in psql: the port defaults to 5432, the user to `osUser`, the
 * database to the user; unlike psql the host defaults to localhost (TCP), and a PGHOST that is a
 * directory (`/var/run/postgresql`) selects that Unix socket.
 */
export function databaseUrlFromLibpqEnv(env: LibpqEnvironment, osUser: string): string | undefined {
  const { PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE } = env
  if (![PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE].some(set)) return undefined
  const port = set(PGPORT) ? PGPORT.trim() : '5432'
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65_535)
    throw new ConfigError(`PGPORT "${PGPORT}" is not a TCP port: expected a number from 1 to 65535`)
  if (set(PGSSLMODE) && !(SSL_MODES as readonly string[]).includes(PGSSLMODE))
    throw new ConfigError(
      `PGSSLMODE "${PGSSLMODE}" is not an SSL mode: expected one of ${SSL_MODES.join(', ')}`,
    )
  const user = set(PGUSER) ? PGUSER : osUser
  const database = set(PGDATABASE) ? PGDATABASE : user
  const host = set(PGHOST) ? PGHOST : 'localhost'
  const socket = host.startsWith('/')
  const credentials = encodeURIComponent(user) + (set(PGPASSWORD) ? `:${encodeURIComponent(PGPASSWORD)}` : '')
  const authority = socket ? '' : `${host.includes(':') ? `[${host}]` : host}:${port}`
  const params = new URLSearchParams()
  if (socket) params.set('host', host)
  if (socket && set(PGPORT)) params.set('port', port)
  if (set(PGSSLMODE)) params.set('sslmode', PGSSLMODE)
  const query = params.size === 0 ? '' : `?${params.toString()}`
  return `postgres://${credentials}@${authority}/${encodeURIComponent(database)}${query}`
}
