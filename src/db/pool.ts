import { createHash } from 'node:crypto'
import pg from 'pg'
import { pgConnectionOptions } from '../connect/postgres-tls.js'
import { classified, classifyPgError } from './errors.js'
import type { QueryOptions, SqlExecutor } from './executor.js'
import { listenSql } from './notify.js'

export interface Database extends SqlExecutor {
  close(): Promise<void>
}

/**
 * The relay's own connection pool (enqueue never uses it: it runs on the caller's connection).
 * Its failures arrive classified: UnavailableError('postgres') when retrying helps, else DatabaseError.
 */
export function openDatabase(
  connectionString: string,
  applicationName: string,
  max = 4,
  options: { indexPlansOnly?: boolean; prepare?: boolean } = {},
): Database {
  const pool = new pg.Pool({
    ...pgConnectionOptions(connectionString),
    max,
    application_name: applicationName,
    // The relay's hot queries each walk one index in order and stop after a batch. With statistics
    // taken before a bulk backlog arrived (an outage, a replay, a backfill; autovacuum late or off)
    // the planner would pick a bitmap scan of every pending row plus a sort instead: O(backlog)
    // per batch. Discouraging both on the relay's own connections keeps every batch O(batch).
    ...(options.indexPlansOnly === true ? { options: '-c enable_bitmapscan=off -c enable_sort=off' } : {}),
  })
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {})
  // pool.end() resolves once it has asked each connection to end, not once they have: close()
  // waits for every socket to close, so no backend of ours outlives it (a DROP DATABASE … FORCE
  // right after would otherwise terminate it, and a caller counting sessions would still see it).
  const connections = new Set<Promise<void>>()
  pool.on('connect', (client) => {
    const ended: Promise<void> = new Promise<void>((resolve) => client.once('end', resolve)).then(() => {
      connections.delete(ended)
    })
    connections.add(ended)
  })
  // With `prepare`, statements the caller marks as prepared (QueryOptions) are named after their
  // text, so each connection parses and plans them once.
  const names = new Map<string, string>()
  const nameOf = (text: string) => {
    let name = names.get(text)
    if (name === undefined) {
      name = `postbox_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`
      names.set(text, name)
    }
    return name
  }
  return {
    query: <Row>(text: string, values: readonly unknown[], query: QueryOptions = {}) =>
      classified(async () => {
        const name = options.prepare === true && query.prepare === true ? nameOf(text) : undefined
        return (await pool.query({ name, text, values: values as unknown[] })).rows as Row[]
      }),
    close: () =>
      classified(async () => {
        await pool.end()
        await Promise.all(connections)
      }),
  }
}

/** A dedicated LISTEN connection; notifications are hints only, so losing it just means polling. */
export interface Listener {
  close(): Promise<void>
}

/** `onError` hears the connection's failures classified, like every other database error. */
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
  client.on('error', (error) => onError(classifyPgError(error)))
  client.on('notification', onNotify)
  try {
    await classified(async () => {
      await client.connect()
      await client.query(listenSql(channel))
    })
  } catch (error) {
    await client.end().catch(() => {})
    throw error
  }
  return {
    close: () => client.end().catch(() => {}),
  }
}

/**
 * Runs `fn` on one dedicated connection (session state such as advisory locks holds for all of
 * `fn`), then closes it. Queries through `db` fail classified; `fn`'s own errors pass unchanged.
 */
export async function withClient<T>(
  connectionString: string,
  fn: (db: SqlExecutor) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ ...pgConnectionOptions(connectionString), application_name: 'postbox' })
  // A connection lost between queries is reported by the next query; it must not crash the process.
  client.on('error', () => {})
  await classified(() => client.connect())
  try {
    return await fn({
      query: <Row>(text: string, values: readonly unknown[]) =>
        classified(async () => (await client.query(text, values as unknown[])).rows as Row[]),
    })
  } finally {
    await client.end().catch(() => {})
  }
}
