import type { SqlExecutor } from './executor.js'
import { quoteIdentifier } from './identifier.js'

/** A row as the relay claims it. Ids are bigint, kept as strings. */
export interface ClaimedRow {
  id: string
  event_id: string
  event_type: string
  topic: string
  key: string
  payload: unknown
  headers: Record<string, string>
  created_at: Date
  shard: number
  attempts: number
}

export interface NewOutboxRow {
  event_id: string
  event_type: string
  topic: string
  key: string
  payload: unknown
  headers: Record<string, string>
}

/** Hot outbox queries, their SQL written out once per configured schema. */
export function outboxQueries(schemaName: string) {
  const s = quoteIdentifier(schemaName)

  const insertSql = `
    insert into ${s}.outbox (event_id, event_type, topic, key, payload, headers)
    select r.event_id, r.event_type, r.topic, r.key, nullif(r.payload, 'null'::jsonb), r.headers
    from jsonb_to_recordset($1::jsonb)
      as r(event_id uuid, event_type text, topic text, key text, payload jsonb, headers jsonb)
    returning id::text`
  const insertAndNotifySql = `
    with inserted as (${insertSql})
    select inserted.id from inserted, (select pg_notify($2, '')) as notified`

  // The horizon: only transactions of this database holding a write lock on the outbox can still
  // add outbox rows, so only they hold rows back (docs/CLAIM-PATH.md has the proof). Read in this
  // order: (1) the last id handed out, (2) the lock holders — an aggregate LATERAL over b runs
  // only once b's row exists, and the lock table is copied when it first reads it; the claim's
  // own snapshot is taken later, by the next statement.
  // Every id <= id_bound was drawn by a transaction that already held its lock at (2), so one
  // still open then is counted. A holder without an xid yet gets one >= next_xid. Relay backends
  // only update rows and never add ids, so they are left out. The functions behind the pg_locks
  // and pg_stat_activity views are called directly: planning the views costs ~5x the execution.
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

  // Settled rows only ($3 id bound, $4 horizon from horizonSql, read before this statement's
  // snapshot). claim_pending (migration 0004) walks (shard, id) one shard after the other in the
  // order given and stops once the batch is full: O(batch) whatever the statistics say. A key with
  // a parked row waits behind it.
  const claimSql = `
    select o.id::text, o.event_id::text, o.event_type, o.topic, o.key, o.payload, o.headers,
           o.created_at, o.shard, o.attempts
    from ${s}.claim_pending($1::smallint[], $2::int, $3::bigint, $4::xid8) o`

  // Fencing: rows are marked only in shards whose lease this relay holds at the epoch it claimed them under.
  // `is true` keeps the planner off the pending index (a whole-index walk when its statistics
  // say few rows are pending): the ids are found by primary key, whatever the statistics.
  const markSentSql = `
    with held as (
      select l.shard
      from ${s}.shard_lease l
      join unnest($2::smallint[], $3::bigint[]) as h(shard, epoch) on h.shard = l.shard and h.epoch = l.epoch
      where l.owner = $4
      for update of l
    )
    update ${s}.outbox o
    set status = 'sent', sent_at = now()
    where o.id = any($1::bigint[]) and (o.status = 'pending') is true and o.shard in (select shard from held)
    returning o.id::text`

  const parkSql = `
    update ${s}.outbox
    set status = 'parked', parked_at = now(), attempts = attempts + 1, last_error = $2
    where id = $1::bigint and status = 'pending'`

  // Committed pending rows the horizon still holds back ($2 horizon from horizonSql).
  const unsettledSql = `
    select count(*)::int as rows, extract(epoch from now() - min(created_at))::float8 as oldest_seconds
    from ${s}.outbox
    where shard = any($1::smallint[]) and status = 'pending' and txid >= $2::xid8`

  let turn = 0

  /** Must run before the statement it guards, outside a REPEATABLE READ transaction. */
  async function readHorizon(db: SqlExecutor) {
    const [row] = await db.query<{
      id_bound: string | null
      horizon: string | null
      holder_pid: number | null
    }>(horizonSql, [])
    return {
      idBound: row?.id_bound ?? null,
      horizon: row?.horizon ?? null,
      holderPid: row?.holder_pid ?? null,
    }
  }

  return {
    /** Writes many outbox rows in one statement inside the caller's transaction. */
    async insertOutboxRows(db: SqlExecutor, rows: readonly NewOutboxRow[], notifyChannel: string | null) {
      const json = JSON.stringify(rows)
      const result =
        notifyChannel === null
          ? await db.query<{ id: string }>(insertSql, [json])
          : await db.query<{ id: string }>(insertAndNotifySql, [json, notifyChannel])
      return result.map((r) => r.id)
    },

    /** Where claiming stops now: ids above idBound, and txids at or above horizon, wait. */
    readHorizon,

    /**
     * Takes up to `limit` rows, each shard's in id order; the first shard asked for turns on each
     * call, so every shard gets served. Two statements: the horizon, then the claim.
     */
    async claimPendingBatch(db: SqlExecutor, shards: readonly number[], limit: number) {
      const { idBound, horizon } = await readHorizon(db)
      if (idBound === null || shards.length === 0) return []
      const start = turn++ % shards.length
      const order = [...shards.slice(start), ...shards.slice(0, start)]
      return db.query<ClaimedRow>(claimSql, [order, limit, idBound, horizon])
    },

    /** Returns the ids actually marked; ids of shards whose lease moved on are left pending. */
    async markSent(
      db: SqlExecutor,
      ids: readonly string[],
      leases: readonly { shard: number; epoch: string }[],
      relayId: string,
    ) {
      const rows = await db.query<{ id: string }>(markSentSql, [
        ids,
        leases.map((l) => l.shard),
        leases.map((l) => l.epoch),
        relayId,
      ])
      return rows.map((r) => r.id)
    },

    async parkRow(db: SqlExecutor, id: string, error: string) {
      await db.query(parkSql, [id, error])
    },

    /** Pending rows the relay cannot claim yet because an older transaction is still open. */
    async unsettledRows(db: SqlExecutor, shards: readonly number[]) {
      const { horizon, holderPid } = await readHorizon(db)
      if (horizon === null) return { rows: 0, oldestSeconds: null, holderPid: null }
      const [row] = await db.query<{ rows: number; oldest_seconds: number | null }>(unsettledSql, [
        shards,
        horizon,
      ])
      return { rows: row?.rows ?? 0, oldestSeconds: row?.oldest_seconds ?? null, holderPid }
    },
  }
}

export type OutboxQueries = ReturnType<typeof outboxQueries>
