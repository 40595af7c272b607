import type { BackfillSource } from '../catalog/types.js'
import type { SqlExecutor } from './executor.js'
import { quoteIdentifier } from './identifier.js'

/** Set on each row read for a batch: false when the operator's condition let a row before the page key in. */
const ADVANCES = 'postbox_key_advances'

/**
 * Reads an event's source table for `postbox backfill`. `where` is the operator's own SQL
 * condition, trusted like input typed into psql: it runs with the operator's database role. Every
 * query carries parameters, so it goes over the extended protocol, which runs one statement only:
 * a `;` in the condition is an error, never a second statement.
 */
export function backfillQueries(source: BackfillSource, where: string | undefined) {
  const table = `${quoteIdentifier(source.schema ?? 'public', 'schema')}.${quoteIdentifier(source.table, 'table')}`
  const key = quoteIdentifier(source.keyColumn, 'column')
  const condition = where === undefined ? 'true' : `(${where})`
  // $1: start from the beginning; $2: otherwise, the key value to start after.
  const afterKey = `($1::boolean or ${key} > $2)`

  const countSql = `select count(*)::int as n from ${table} where ${afterKey} and ${condition}`

  // Keyset pagination in key order. FOR SHARE: an update that committed before this read is
  // what we read; one that comes later waits until our batch (and its outbox rows) commits,
  // so the application's own event for it gets a higher outbox id and is published after ours.
  const batchSql = `
    select *, ${afterKey} as ${ADVANCES} from ${table}
    where ${afterKey} and ${condition}
    order by ${key} limit $3 for share`
  const sampleSql = `select * from ${table} where ${afterKey} and ${condition} order by ${key} limit $3`

  const start = (after: unknown) => [after === undefined, after ?? null]

  return {
    /** Rows a backfill would read, all of them or those after key value `after`. */
    async countSourceRows(db: SqlExecutor, after: unknown) {
      const [row] = await db.query<{ n: number }>(countSql, start(after))
      return row?.n ?? 0
    },

    /** The first rows a backfill would read, unlocked (for --dry-run). */
    sampleSourceRows(db: SqlExecutor, after: unknown, limit: number) {
      return db.query<Record<string, unknown>>(sampleSql, [...start(after), limit])
    },

    /**
     * Locks and returns the next `limit` rows after key value `after` (all from the start when
     * undefined). `advances` is false when a row at or before `after` came back: a condition that
     * escapes the key order (`id > 0) or (true`), which would otherwise loop for ever.
     */
    async lockNextSourceBatch(db: SqlExecutor, after: unknown, limit: number) {
      const rows = await db.query<Record<string, unknown>>(batchSql, [...start(after), limit])
      let advances = true
      for (const row of rows) {
        if (row[ADVANCES] !== true) advances = false
        delete row[ADVANCES]
      }
      return { rows, advances }
    },

    /** Makes the current transaction read only (dry runs): the condition cannot change anything. */
    async readOnly(db: SqlExecutor) {
      await db.query('set transaction read only', [])
    },
  }
}
