import type { SqlExecutor } from './executor.js'
import { quoteIdentifier } from './identifier.js'

/**
 * Where claiming stops now. Rows with ids above `idBound` or txids at or above `horizon` wait for
 * a later claim; `horizon` null means no open transaction holds rows back. `holderPid` is the
 * backend of the transaction that sets the horizon, so the relay can name what it waits for.
 */
export interface Horizon {
  idBound: string | null
  horizon: string | null
  holderPid: number | null
}

/** The horizon query for one outbox schema. Run it before the statement it guards. */
export function horizonQuery(schemaName: string) {
  const s = quoteIdentifier(schemaName)

  // The horizon: only transactions of this database holding a write lock on the outbox can still
  // add outbox rows, so only they hold rows back (docs/CLAIM-PATH.md has the proof). Read in this
  // order: (1) the last id handed out, (2) the lock holders — an aggregate LATERAL over b runs
  // only once b's row exists, and the lock table is copied when it first reads it; the claim's
  // own snapshot is taken later, by the next statement.
  // Every id <= id_bound was drawn by a transaction that already held its lock at (2), so one
  // still open then is counted. A holder without an xid yet gets one >= next_xid. Relay backends
  // only update rows and never add ids, so they are left out. The functions behind the pg_locks
  // and pg_stat_activity views are called directly: planning the views costs ~5x the execution.
  // It has no parameters, so its one plan is prepared once per connection (planning was about
  // half of its ~1.2 ms; the relay reads it before every claim).
  const horizonSql = `
    with locks as materialized (select * from pg_lock_status())
    select b.id_bound::text as id_bound, w.horizon::text as horizon, w.holder_pid
    from (
      select pg_sequence_last_value(pg_get_serial_sequence('${s}.outbox', 'id')::regclass) as id_bound,
             pg_snapshot_xmax(pg_current_snapshot()) as next_xid
    ) b
    cross join lateral (
      select min(h.xid) as horizon, (array_agg(h.pid order by h.xid))[1] as holder_pid
      from (
        select l.pid,
               coalesce(
                 (b.next_xid::text::numeric
                   + ((x.transactionid::text::bigint - (b.next_xid::text::numeric % 4294967296)::bigint
                       + 6442450944) % 4294967296) - 2147483648)::text::xid8,
                 b.next_xid) as xid
        from locks l
        left join locks x
          on x.locktype = 'transactionid' and x.granted and x.virtualtransaction = l.virtualtransaction
        where l.locktype = 'relation' and l.granted
          and l.database = (select oid from pg_database where datname = current_database())
          and l.relation = '${s}.outbox'::regclass
          and l.mode in ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
          and l.pid is distinct from pg_backend_pid()
          and (l.pid is null -- a prepared transaction
               or l.pid not in (select a.pid from pg_stat_get_activity(null) a where a.application_name like 'postbox-relay %'))
      ) h
    ) w`

  /** Must run before the statement it guards (whose snapshot must be later), outside REPEATABLE READ. */
  return async function readHorizon(db: SqlExecutor): Promise<Horizon> {
    const [row] = await db.query<{
      id_bound: string | null
      horizon: string | null
      holder_pid: number | null
    }>(horizonSql, [], { prepare: true })
    return {
      idBound: row?.id_bound ?? null,
      horizon: row?.horizon ?? null,
      holderPid: row?.holder_pid ?? null,
    }
  }
}
