import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import pg from 'pg'

/**
 * The stack's SASL_SSL listener and private PostgreSQL cluster, where scripts/stack puts them
 * (scripts/with-stack exports STACK_*; the defaults are the files `scripts/stack up` writes).
 */
const tlsDir = resolve(process.env.STACK_DIR ?? '.stack', 'tls')

export const secureStack = {
  saslBrokers: (process.env.STACK_SASL_BROKERS ?? '127.0.0.1:9094').split(','),
  saslUsername: process.env.STACK_SASL_USERNAME ?? 'postbox',
  saslPasswordFile: process.env.STACK_SASL_PASSWORD_FILE ?? resolve(tlsDir, 'postbox.password'),
  caFile: process.env.STACK_TLS_CA ?? resolve(tlsDir, 'ca.pem'),
  pgPrivateUrl: process.env.STACK_PG_PRIVATE_URL ?? 'postgres://postgres@127.0.0.1:5433/postgres',
}

/** A file the stack writes; a clear failure (not a skip) when the stack has not made it. */
export function stackFile(path: string): string {
  if (!existsSync(path)) {
    throw new Error(
      `${path} does not exist: start the stack with scripts/stack up (or run under scripts/with-stack)`,
    )
  }
  return path
}

export function saslPassword(): string {
  return readFileSync(stackFile(secureStack.saslPasswordFile), 'utf8').trim()
}

/** `url` with these query parameters set (sslmode, sslrootcert, …). */
export function withQueryParameters(url: string, parameters: Record<string, string>): string {
  const u = new URL(url)
  for (const [name, value] of Object.entries(parameters)) u.searchParams.set(name, value)
  return u.href
}

/** `url` over TLS that checks the stack CA's certificate and the host name, as libpq's verify-full. */
export function verifyFull(url: string): string {
  return withQueryParameters(url, { sslmode: 'verify-full', sslrootcert: stackFile(secureStack.caFile) })
}

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => {})
  }
}

/** Starts the private cluster (`scripts/stack up pg-private`) unless it answers already. */
export async function ensurePrivateCluster(): Promise<void> {
  if (!(await reachable(secureStack.pgPrivateUrl))) {
    execFileSync('scripts/stack', ['up', 'pg-private'], { stdio: 'inherit' })
  }
}
