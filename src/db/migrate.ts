import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import knexFactory from 'knex'
import { pgConnectionOptions } from '../connect/postgres-tls.js'
import { MigrationError } from '../errors.js'
import { withAdvisoryLock } from './advisory-lock.js'
import { classified } from './errors.js'
import type { SqlExecutor } from './executor.js'
import { quoteIdentifier } from './identifier.js'
import { withClient } from './pool.js'

const MIGRATIONS_TABLE = 'postbox_migrations'

/** migrations/ sits at the package root, both in the source tree and in the built package. */
function migrationsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'migrations')
    if (existsSync(join(candidate, '0001_outbox.sql'))) return candidate
    dir = dirname(dir)
  }
  throw new MigrationError('cannot find the migrations/ folder of the postbox package')
}

export function knownMigrations(): string[] {
  return readdirSync(migrationsDir())
    .filter((f) => f.endsWith('.sql'))
    .sort()
}

export interface MigrateResult {
  applied: string[]
  alreadyApplied: string[]
}

/**
 * Brings the schema up to date. Takes an advisory lock so concurrent migrators wait for each
 * other, records itself in its own table, and refuses a database migrated by a newer Postbox.
 */
export async function migrate(databaseUrl: string, schemaName: string): Promise<MigrateResult> {
  const schema = quoteIdentifier(schemaName)
  const local = knownMigrations()
  const dir = migrationsDir()
  return withClient(databaseUrl, (db) =>
    withAdvisoryLock(db, `postbox.migrate.${schemaName}`, async () => {
      const done = await appliedMigrations(db, schemaName)
      const unknown = done.filter((name) => !local.includes(name))
      if (unknown.length > 0) {
        throw new MigrationError(
          `schema ${schemaName} was migrated by a newer Postbox (unknown migrations: ${unknown.join(', ')}); upgrade Postbox`,
        )
      }
      // Creating a schema, even `if not exists`, needs CREATE on the database, which the owner
      // role of `postbox grants` lacks: it owns the schema the administrator made for it.
      const [found] = await db.query<{ present: boolean }>(
        'select to_regnamespace($1) is not null as present',
        [schemaName],
      )
      if (found?.present !== true) await db.query(`create schema if not exists ${schema}`, [])
      const knex = knexFactory({
        client: 'pg',
        connection: { ...pgConnectionOptions(databaseUrl), application_name: 'postbox migrate' },
        pool: { min: 0, max: 1 },
      })
      try {
        await classified(() =>
          knex.migrate.latest({
            tableName: MIGRATIONS_TABLE,
            schemaName,
            migrationSource: {
              getMigrations: async () => local,
              getMigrationName: (name: string) => name,
              getMigration: async (name: string) => ({
                up: (k: typeof knex) =>
                  k.raw(readFileSync(join(dir, name), 'utf8').replaceAll('{{schema}}', schema)),
                down: async () => {
                  throw new MigrationError('postbox migrations are forward-only')
                },
              }),
            },
          }),
        )
      } finally {
        await knex.destroy()
      }
      const applied = local.filter((name) => !done.includes(name))
      return { applied, alreadyApplied: done }
    }),
  )
}

async function appliedMigrations(db: SqlExecutor, schemaName: string): Promise<string[]> {
  const [exists] = await db.query<{ present: boolean }>('select to_regclass($1) is not null as present', [
    `${quoteIdentifier(schemaName)}.${MIGRATIONS_TABLE}`,
  ])
  if (exists?.present !== true) return []
  const rows = await db.query<{ name: string }>(
    `select name from ${quoteIdentifier(schemaName)}.${MIGRATIONS_TABLE} order by id`,
    [],
  )
  return rows.map((r) => r.name)
}

/** Names of applied migrations, and whether the schema is current (for status and startup checks). */
export async function migrationState(databaseUrl: string, schemaName: string) {
  const local = knownMigrations()
  const done = await withClient(databaseUrl, (c) => appliedMigrations(c, schemaName))
  return {
    applied: done,
    pending: local.filter((n) => !done.includes(n)),
    unknown: done.filter((n) => !local.includes(n)),
  }
}
