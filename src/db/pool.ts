import pg from 'pg'
import { pgConnectionOptions } from '../connect/postgres-tls.js'
import type { SqlExecutor } from './executor.js'

/** Postgres error classes and codes worth retrying: connection loss, shutdown, serialisation. */
const RETRIABLE_SQLSTATE_PREFIXES = ['08', '53', '57P', '40001', '40P01']

export function isRetriablePgError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string' && RETRIABLE_SQLSTATE_PREFIXES.some((p) => code.startsWith(p))) return true
  const message = error instanceof Error ? error.message : ''
  return (
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    /Connection terminated|connection timeout|Client has encountered a connection error/i.test(message)
  )
}

export interface Database extends SqlExecutor {
  close(): Promise<void>
}

/** The relay's own connection pool (enqueue never uses it: it runs on the caller's connection). */
export function openDatabase(connectionString: string, applicationName: string, max = 4): Database {
  const pool = new pg.Pool({
    ...pgConnectionOptions(connectionString),
    max,
    application_name: applicationName,
  })
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {})
  return {
    async query<Row>(text: string, values: readonly unknown[]) {
      const result = await pool.query(text, values as unknown[])
      return result.rows as Row[]
    },
    close: () => pool.end(),
  }
}

/** A dedicated LISTEN connection; notifications are hints only, so losing it just means polling. */
export interface Listener {
  close(): Promise<void>
}

export async function listen(
  connectionString: string,
  channel: string,
  onNotify: () => void,
  onError: (error: unknown) => void,
): Promise<Listener> {
  const client = new pg.Client({
    ...pgConnectionOptions(connectionString),
    application_name: 'postbox-listen',
  })
  client.on('error', onError)
  client.on('notification', onNotify)
  await client.connect()
  await client.query(`listen "${channel.replace(/"/g, '')}"`)
  return {
    close: () => client.end().catch(() => {}),
  }
}

export async function withClient<T>(connectionString: string, fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ ...pgConnectionOptions(connectionString), application_name: 'postbox' })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}
