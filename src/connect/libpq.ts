import { readFileSync, statSync } from 'node:fs'
import { homedir, userInfo } from 'node:os'
import { join } from 'node:path'
import { rememberSecret } from '../redact.js'

/** libpq's environment variables, as psql reads them (bin/ passes them down). */
export interface LibpqEnvironment {
  PGHOST?: string
  PGPORT?: string
  PGUSER?: string
  PGPASSWORD?: string
  PGDATABASE?: string
  PGSSLMODE?: string
  PGSSLROOTCERT?: string
  PGSSLCERT?: string
  PGSSLKEY?: string
  PGPASSFILE?: string
  PGCONNECT_TIMEOUT?: string
}

const LIBPQ_TLS: readonly [keyof LibpqEnvironment, string][] = [
  ['PGSSLMODE', 'sslmode'],
  ['PGSSLROOTCERT', 'sslrootcert'],
  ['PGSSLCERT', 'sslcert'],
  ['PGSSLKEY', 'sslkey'],
  ['PGCONNECT_TIMEOUT', 'connect_timeout'],
]

/**
 * A postgres:// URL from libpq's variables, or undefined when none of PGHOST, PGPORT, PGUSER,
 * PGDATABASE is set. Defaults as libpq's: host localhost (pg has no Unix-socket default), port
 * 5432, user the login name, database the user name.
 */
export function databaseUrlFromLibpq(env: LibpqEnvironment): string | undefined {
  if (
    env.PGHOST === undefined &&
    env.PGPORT === undefined &&
    env.PGUSER === undefined &&
    env.PGDATABASE === undefined
  ) {
    return undefined
  }
  const user = env.PGUSER ?? userInfo().username
  rememberSecret(env.PGPASSWORD)
  const url = new URL('postgres://localhost')
  const host = env.PGHOST ?? 'localhost'
  // A Unix-socket directory goes in the `host` parameter, as pg reads it.
  if (host.startsWith('/')) url.searchParams.set('host', host)
  else url.hostname = host
  url.port = env.PGPORT ?? '5432'
  url.username = encodeURIComponent(user)
  if (env.PGPASSWORD !== undefined) url.password = encodeURIComponent(env.PGPASSWORD)
  url.pathname = `/${encodeURIComponent(env.PGDATABASE ?? user)}`
  for (const [variable, parameter] of LIBPQ_TLS) {
    const value = env[variable]
    if (value !== undefined) url.searchParams.set(parameter, value)
  }
  return url.href
}

/** Splits a .pgpass line on unescaped colons, undoing \: and \\. */
function pgpassFields(line: string): string[] {
  const fields: string[] = []
  let current = ''
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (c === '\\' && i + 1 < line.length) {
      current += line[++i]
    } else if (c === ':') {
      fields.push(current)
      current = ''
    } else {
      current += c
    }
  }
  fields.push(current)
  return fields
}

/**
 * The password .pgpass gives for this connection (first matching line, `*` matches anything),
 * or undefined. Like libpq, a file others can read is ignored.
 */
export function pgpassPassword(
  target: { host: string; port: string; database: string; user: string },
  passfile: string,
): string | undefined {
  let text: string
  try {
    if ((statSync(passfile).mode & 0o077) !== 0) return undefined
    text = readFileSync(passfile, 'utf8')
  } catch {
    return undefined
  }
  const wanted = [target.host, target.port, target.database, target.user]
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '' || line.startsWith('#')) continue
    const fields = pgpassFields(line)
    if (fields.length < 5) continue
    if (wanted.every((value, i) => fields[i] === '*' || fields[i] === value)) {
      const password = fields.slice(4).join(':')
      rememberSecret(password)
      return password
    }
  }
  return undefined
}

/** Adds the .pgpass password to a postgres:// URL that has none (as psql does). */
export function withPgpass(databaseUrl: string, env: LibpqEnvironment): string {
  let url: URL
  try {
    url = new URL(databaseUrl)
  } catch {
    return databaseUrl
  }
  if (!/^postgres(ql)?:$/.test(url.protocol) || url.password !== '') return databaseUrl
  const user = decodeURIComponent(url.username) || userInfo().username
  const host = url.searchParams.get('host') ?? (url.hostname === '' ? 'localhost' : url.hostname)
  const password = pgpassPassword(
    {
      host: host.startsWith('/') ? 'localhost' : host,
      port: url.port || '5432',
      database: decodeURIComponent(url.pathname.slice(1)) || user,
      user,
    },
    env.PGPASSFILE ?? join(homedir(), '.pgpass'),
  )
  if (password === undefined) return databaseUrl
  url.username = encodeURIComponent(user)
  url.password = encodeURIComponent(password)
  return url.href
}
