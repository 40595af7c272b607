import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import pg from 'pg'
import { migrate } from '../../dist/src/db/migrate.js'
import { uniqueName } from '../support/stack.js'

/**
 * The stack's private PostgreSQL cluster (`scripts/stack up pg-private`), which the chaos suite
 * may restart; scripts/with-stack exports its address.
 */
export const privateServerUrl =
  process.env.STACK_PG_PRIVATE_URL ?? 'postgres://postgres@127.0.0.1:5433/postgres'

/** A migrated database of the scenario's own on the private cluster. */
export async function createPrivateDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = uniqueName('pbchaos').toLowerCase()
  const url = new URL(privateServerUrl)
  await withAdmin((admin) => admin.query(`create database "${name}"`))
  url.pathname = `/${name}`
  await migrate(url.toString(), 'postbox')
  return {
    url: url.toString(),
    drop: async () => {
      await withAdmin((admin) => admin.query(`drop database if exists "${name}" with (force)`))
    },
  }
}

async function withAdmin<T>(work: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: privateServerUrl })
  await admin.connect()
  try {
    return await work(admin)
  } finally {
    await admin.end()
  }
}

/**
 * `pg_ctl restart -m fast` (clean shutdown) or `-m immediate` (no checkpoint: crash recovery),
 * through the stack script. Asynchronous, so the test's own pool sees its connections close
 * while the server is down instead of handing a dead one to the next query.
 */
export async function restartPrivateServer(mode: 'fast' | 'immediate'): Promise<void> {
  try {
    await promisify(execFile)('scripts/stack', ['restart', 'pg-private', '--mode', mode], {
      timeout: 240_000,
    })
  } catch (error) {
    const { stderr = '', stdout = '' } = error as { stderr?: string; stdout?: string }
    assert.fail(`scripts/stack restart pg-private --mode ${mode} failed: ${stderr}${stdout}`)
  }
}

/** The server's start time: it changes when the server really restarted. */
export async function serverStartedAt(): Promise<string> {
  return withAdmin(async (admin) => {
    const { rows } = await admin.query('select pg_postmaster_start_time()::text as t')
    return (rows[0] as { t: string }).t
  })
}
