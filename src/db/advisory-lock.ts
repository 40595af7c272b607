import type { SqlExecutor } from './executor.js'

// The key is hashed by Postgres, so every Postbox version takes the same lock for the same name.
const LOCK_SQL = 'select pg_advisory_lock(hashtext($1))'
const TRY_LOCK_SQL = 'select pg_try_advisory_lock(hashtext($1)) as locked'
const UNLOCK_SQL = 'select pg_advisory_unlock(hashtext($1))'

/**
 * Runs `fn` while this session holds the advisory lock named `key`, and releases it afterwards,
 * also when `fn` throws. `db` must be one connection (withClient, a session), not a pool: the
 * lock belongs to the connection that took it.
 *
 * By default it waits for the lock. With `{ wait: false }` it does not: when another session
 * holds the lock, `fn` does not run and the result is undefined.
 */
export async function withAdvisoryLock<T>(db: SqlExecutor, key: string, fn: () => Promise<T>): Promise<T>
export async function withAdvisoryLock<T>(
  db: SqlExecutor,
  key: string,
  fn: () => Promise<T>,
  options: { wait: false },
): Promise<T | undefined>
export async function withAdvisoryLock<T>(
  db: SqlExecutor,
  key: string,
  fn: () => Promise<T>,
  options: { wait: boolean } = { wait: true },
): Promise<T | undefined> {
  if (options.wait) {
    await db.query(LOCK_SQL, [key])
  } else {
    const [row] = await db.query<{ locked: boolean }>(TRY_LOCK_SQL, [key])
    if (row?.locked !== true) return undefined
  }
  let result: T
  try {
    result = await fn()
  } catch (error) {
    // The failure that matters is fn's; a failed unlock also ends with the connection.
    await db.query(UNLOCK_SQL, [key]).catch(() => {})
    throw error
  }
  await db.query(UNLOCK_SQL, [key])
  return result
}
