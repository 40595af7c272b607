import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { migrate } from '../../src/db/migrate.js'

/** Where the real stack lives; scripts/with-stack exports these for `npm test`. */
export const stack = {
  databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
  registryUrl: process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7',
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url)
  u.pathname = `/${database}`
  return u.toString()
}

/** A database of the test file's own, dropped when the test file ends. */
export async function createTestDatabase(prefix = 'pbtest'): Promise<{ url: string; drop(): Promise<void> }> {
  const name = uniqueName(prefix).toLowerCase()
  const admin = new pg.Client({ connectionString: stack.databaseUrl })
  await admin.connect()
  await admin.query(`create database "${name}"`)
  await admin.end()
  return {
    url: withDatabase(stack.databaseUrl, name),
    async drop() {
      const c = new pg.Client({ connectionString: stack.databaseUrl })
      await c.connect()
      await c.query(`drop database if exists "${name}" with (force)`)
      await c.end()
    },
  }
}

/** A migrated database with the default schema. */
export async function createMigratedDatabase(prefix = 'pbtest') {
  const db = await createTestDatabase(prefix)
  await migrate(db.url, 'postbox')
  return db
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`)
}

export async function queryRows<T>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return (await c.query(text, values)).rows as T[]
  } finally {
    await c.end()
  }
}
