// Databases and topics of one benchmark run: each measurement gets its own, all dropped at the end.
import { randomBytes } from 'node:crypto'
import { Kafka, logLevel } from 'kafkajs'
import pg from 'pg'
import { orderEvent, orderRows } from './events.js'
import { createOutbox, migrate } from './relay-api.js'

export interface Stack {
  databaseUrl: string
  brokers: string[]
  registryUrl: string
}

export interface Scratch {
  /** A fresh, migrated database and a unique topic name for one measurement. */
  database(name: string): Promise<{ url: string; name: string; topic: string }>
  /** Drops every database and deletes every topic this run created. */
  cleanUp(): Promise<void>
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url)
  u.pathname = `/${database}`
  return u.toString()
}

export async function adminQuery<T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, application_name: 'postbox-bench' })
  await client.connect()
  try {
    return (await client.query<T>(sql, params)).rows
  } finally {
    await client.end()
  }
}

export function createScratch(stack: Stack): Scratch {
  const run = `bench_${Date.now().toString(36)}_${randomBytes(2).toString('hex')}`
  const databases: string[] = []
  return {
    async database(name) {
      const database = `${run}_${name}`
      await adminQuery(stack.databaseUrl, `create database ${database}`)
      databases.push(database)
      const url = withDatabase(stack.databaseUrl, database)
      await migrate(url, 'postbox')
      return { url, name: database, topic: `${run}.${name}` }
    },
    async cleanUp() {
      for (const database of databases) {
        await adminQuery(stack.databaseUrl, `drop database if exists ${database} with (force)`)
      }
      const admin = new Kafka({
        clientId: 'postbox-bench',
        brokers: stack.brokers,
        logLevel: logLevel.NOTHING,
      }).admin()
      await admin.connect()
      try {
        // The relay's topics and, in exactly-once mode, its progress topic all carry the run id.
        const topics = (await admin.listTopics()).filter((t) => t.includes(run))
        if (topics.length > 0) await admin.deleteTopics({ topics })
      } finally {
        await admin.disconnect()
      }
    },
  }
}

/**
 * Commits `count` order events to the outbox through enqueueMany, in large transactions on a
 * few connections. This is set-up, not a measurement.
 */
export async function fillBacklog(url: string, topic: string, count: number): Promise<void> {
  const event = orderEvent(topic)
  const outbox = createOutbox({ events: [event], notify: false })
  const statement = 5000
  const perTransaction = 100_000
  const writers = 2
  let next = 0
  const writer = async () => {
    const client = new pg.Client({ connectionString: url, application_name: 'postbox-bench fill' })
    await client.connect()
    try {
      while (next < count) {
        const from = next
        const size = Math.min(perTransaction, count - from)
        next += size
        await client.query('begin')
        for (let i = from; i < from + size; i += statement) {
          await outbox.enqueueMany(client, event, orderRows(i, Math.min(statement, from + size - i)))
        }
        await client.query('commit')
      }
    } finally {
      await client.end()
    }
  }
  await Promise.all(Array.from({ length: writers }, writer))
}

/**
 * Why a measurement may be stuck: the oldest open transaction holding an xid anywhere on the
 * server (while it is open, today's relay publishes nothing committed after it started) and
 * what the backends of the measurement's database are doing.
 */
export async function explainStall(serverUrl: string, database: string): Promise<string> {
  const [tx] = await adminQuery<{ pid: number; datname: string; state: string; age: number; query: string }>(
    serverUrl,
    `select pid, datname, state, extract(epoch from now() - xact_start)::int as age, left(query, 80) as query
     from pg_stat_activity where backend_xid is not null order by xact_start limit 1`,
  )
  const active = await adminQuery<{ pid: number; state: string; age: number; query: string }>(
    serverUrl,
    `select pid, state, extract(epoch from now() - query_start)::int as age, left(query, 80) as query
     from pg_stat_activity where datname = $1 and state <> 'idle'`,
    [database],
  )
  const lines = active.map((a) => `  pid ${a.pid} ${a.state} for ${a.age} s: ${a.query.replace(/\s+/g, ' ')}`)
  return [
    tx === undefined
      ? 'no write transaction is open on the server'
      : `oldest open write transaction on the server: pid ${tx.pid} in ${tx.datname}, ${tx.state}, ${tx.age} s: ${tx.query}`,
    `busy backends of ${database}: ${lines.length === 0 ? 'none' : `\n${lines.join('\n')}`}`,
  ].join('\n')
}
