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

/** The same URL, connecting as `role` (the test servers trust local connections). */
export function asRole(url: string, role: string): string {
  const u = new URL(url)
  u.username = role
  return u.toString()
}

/**
 * A database of the test file's own on `server` (a URL of an administrator, default the shared
 * server), dropped when the test file ends.
 */
export async function createTestDatabase(
  prefix = 'pbtest',
  server = stack.databaseUrl,
): Promise<{ url: string; drop(): Promise<void> }> {
  const name = uniqueName(prefix).toLowerCase()
  const admin = new pg.Client({ connectionString: server })
  await admin.connect()
  await admin.query(`create database "${name}"`)
  await admin.end()
  return {
    url: withDatabase(server, name),
    async drop() {
      const c = new pg.Client({ connectionString: server })
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

/**
 * Owner, application and relay role names for `postbox grants`, of this run's own (roles belong to
 * the whole server, which other test runs share), and the options that name them.
 */
export function uniqueGrantRoles(prefix: string) {
  const name = uniqueName(prefix)
  const roles = { owner: `${name}_owner`, app: `${name}_app`, relay: `${name}_relay` }
  return { roles, options: ['--owner', roles.owner, '--app', roles.app, '--relay', roles.relay] }
}

/** Drops `roles` (cluster-wide) on the server of the administrator URL `server`, if they exist. */
export async function dropRoles(server: string, roles: readonly string[]): Promise<void> {
  const admin = new pg.Client({ connectionString: server })
  await admin.connect()
  try {
    for (const role of roles) await admin.query(`drop role if exists "${role}"`)
  } finally {
    await admin.end()
  }
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
