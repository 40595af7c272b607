import type { BackfillSource } from '../catalog/types.js'
import type { SqlExecutor } from './executor.js'
import { quoteIdentifier } from './identifier.js'

/**
 * Reads an event's source table for `postbox backfill`. `where` is the operator's own SQL
 * condition, trusted like input typed into psql: it runs with the operator's database role.
 */
export function backfillQueries(source: BackfillSource, where: string | undefined) {
  const table = `${quoteIdentifier(source.schema ?? 'public', 'schema')}.${quoteIdentifier(source.table, 'table')}`
  const key = quoteIdentifier(source.keyColumn, 'column')
  const condition = where === undefined ? 'true' : `(${where})`

  const countSql = `select count(*)::int as n from ${table} where ${condition}`
  const countAfterSql = `select count(*)::int as n from ${table} where ${key} > $1 and ${condition}`

  // Keyset pagination in key order. FOR SHARE: an update that committed before this read is
  // what we read; one that comes later waits until our batch (and its outbox rows) commits,
  // so the application's own event for it gets a higher outbox id and is published after ours.
  const firstBatchSql = `select * from ${table} where ${condition} order by ${key} limit $1 for share`
  const nextBatchSql = `select * from ${table} where ${key} > $2 and ${condition} order by ${key} limit $1 for share`
  const sampleSql = `select * from ${table} where ${condition} order by ${key} limit $1`
  const sampleAfterSql = `select * from ${table} where ${key} > $2 and ${condition} order by ${key} limit $1`

  return {
    /** Rows a backfill would read, all of them or those after key value `after`. */
    async countSourceRows(db: SqlExecutor, after: unknown) {
      const [row] =
        after === undefined
          ? await db.query<{ n: number }>(countSql, [])
          : await db.query<{ n: number }>(countAfterSql, [after])
      return row?.n ?? 0
    },

    /** The first rows a backfill would read, unlocked (for --dry-run). */
    sampleSourceRows(db: SqlExecutor, after: unknown, limit: number) {
      return after === undefined
        ? db.query<Record<string, unknown>>(sampleSql, [limit])
        : db.query<Record<string, unknown>>(sampleAfterSql, [limit, after])
    },

    /** Locks and returns the next `limit` rows after key value `after` (all from the start when undefined). */
    lockNextSourceBatch(db: SqlExecutor, after: unknown, limit: number) {
      return after === undefined
        ? db.query<Record<string, unknown>>(firstBatchSql, [limit])
        : db.query<Record<string, unknown>>(nextBatchSql, [limit, after])
    },
  }
}
