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

  // Settled rows only: every transaction below the snapshot's xmin has finished, so no
  // row with a smaller txid can still appear. A key with a parked row waits behind it.
  const claimSql = `
    select o.id::text, o.event_id::text, o.event_type, o.topic, o.key, o.payload, o.headers,
           o.created_at, o.shard, o.attempts
    from ${s}.outbox o
    where o.shard = any($1::smallint[])
      and o.status = 'pending'
      and o.txid < pg_snapshot_xmin(pg_current_snapshot())
      and not exists (
        select 1 from ${s}.outbox p
        where p.status = 'parked' and p.topic = o.topic and md5(p.key) = md5(o.key) and p.key = o.key and p.id < o.id)
    order by o.id
    limit $2`

  // Fencing: rows are marked only in shards whose lease this relay holds at the epoch it claimed them under.
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
    where o.id = any($1::bigint[]) and o.status = 'pending' and o.shard in (select shard from held)
    returning o.id::text`

  const parkSql = `
    update ${s}.outbox
    set status = 'parked', parked_at = now(), attempts = attempts + 1, last_error = $2
    where id = $1::bigint and status = 'pending'`

  const unsettledSql = `
    select count(*)::int as rows, extract(epoch from now() - min(created_at))::float8 as oldest_seconds
    from ${s}.outbox
    where shard = any($1::smallint[]) and status = 'pending'
      and txid >= pg_snapshot_xmin(pg_current_snapshot())`

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

    claimPendingBatch(db: SqlExecutor, shards: readonly number[], limit: number) {
      return db.query<ClaimedRow>(claimSql, [shards, limit])
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
      const [row] = await db.query<{ rows: number; oldest_seconds: number | null }>(unsettledSql, [shards])
      return { rows: row?.rows ?? 0, oldestSeconds: row?.oldest_seconds ?? null }
    },
  }
}

export type OutboxQueries = ReturnType<typeof outboxQueries>
