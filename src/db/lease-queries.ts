import type { SqlExecutor } from './executor.js'
import { quoteIdentifier } from './identifier.js'

export interface Lease {
  shard: number
  /** Fencing epoch, bumped on every takeover (bigint as string). */
  epoch: string
}

/** Queries for relays sharing the shards through leases with a TTL and a fencing epoch. */
export function leaseQueries(schemaName: string) {
  const s = quoteIdentifier(schemaName)
  return {
    async heartbeatRelay(db: SqlExecutor, relayId: string, host: string, pid: number) {
      await db.query(
        `insert into ${s}.relay (id, host, pid) values ($1, $2, $3)
         on conflict (id) do update set heartbeat_at = now()`,
        [relayId, host, pid],
      )
    },

    async liveRelayCount(db: SqlExecutor, ttlMs: number) {
      const [row] = await db.query<{ n: number }>(
        `select count(*)::int as n from ${s}.relay where heartbeat_at > now() - $1 * interval '1 millisecond'`,
        [ttlMs],
      )
      return row?.n ?? 0
    },

    async removeRelay(db: SqlExecutor, relayId: string) {
      await db.query(`delete from ${s}.relay where id = $1`, [relayId])
    },

    /** Forgets relays that stopped heartbeating long ago, so the shard split counts only live ones. */
    async pruneDeadRelays(db: SqlExecutor, olderThanMs: number) {
      await db.query(`delete from ${s}.relay where heartbeat_at < now() - $1 * interval '1 millisecond'`, [
        olderThanMs,
      ])
    },

    async shardCount(db: SqlExecutor) {
      const [row] = await db.query<{ n: number }>(`select count(*)::int as n from ${s}.shard_lease`, [])
      return row?.n ?? 0
    },

    /** Takes up to `limit` free or expired shards, bumping each one's epoch. */
    async acquireShards(db: SqlExecutor, relayId: string, ttlMs: number, limit: number) {
      return db.query<Lease>(
        `update ${s}.shard_lease l
         set owner = $1, epoch = l.epoch + 1, expires_at = now() + $2 * interval '1 millisecond'
         where l.shard in (
           select shard from ${s}.shard_lease
           where owner is null or expires_at < now()
           order by shard
           limit $3
           for update skip locked)
         returning l.shard, l.epoch::text`,
        [relayId, ttlMs, limit],
      )
    },

    /** Extends the leases still held at their epoch; returns the shards that were renewed. */
    async renewLeases(db: SqlExecutor, relayId: string, leases: readonly Lease[], ttlMs: number) {
      const rows = await db.query<{ shard: number }>(
        `update ${s}.shard_lease l
         set expires_at = now() + $4 * interval '1 millisecond'
         from unnest($2::smallint[], $3::bigint[]) as h(shard, epoch)
         where l.shard = h.shard and l.epoch = h.epoch and l.owner = $1
         returning l.shard`,
        [relayId, leases.map((l) => l.shard), leases.map((l) => l.epoch), ttlMs],
      )
      return new Set(rows.map((r) => r.shard))
    },

    async releaseLeases(db: SqlExecutor, relayId: string, shards: readonly number[]) {
      await db.query(
        `update ${s}.shard_lease set owner = null, expires_at = null where owner = $1 and shard = any($2::smallint[])`,
        [relayId, shards],
      )
    },
  }
}

export type LeaseQueries = ReturnType<typeof leaseQueries>

/** The open transaction that holds the horizon, as `oldestOpenTransaction` reports it. */
export interface OpenTransaction {
  pid: number
  state: string | null
  age_seconds: number
  query_start: Date | null
  /** The first 200 characters of its last statement, only when asked for (it may carry secrets). */
  query: string | null
  application_name: string | null
}

/**
 * The open transaction that holds the horizon, so the relay can say what it waits for: the given
 * backend (the horizon's holder), or else the oldest transaction with an xid in the cluster.
 * Its last statement's text is another session's SQL and may carry a password or personal data:
 * it is read only with `withQuery` (an operator's explicit request), else `query` is null.
 */
export async function oldestOpenTransaction(
  db: SqlExecutor,
  holderPid: number | null = null,
  options: { withQuery?: boolean } = {},
): Promise<OpenTransaction | null> {
  const [row] = await db.query<OpenTransaction>(
    `select pid, state, extract(epoch from now() - xact_start)::float8 as age_seconds, query_start,
            case when $2::boolean then left(query, 200) end as query, application_name
     from pg_stat_activity
     where pid <> pg_backend_pid() and (pid = $1::int or ($1::int is null and backend_xid is not null))
     order by age(backend_xid) desc
     limit 1`,
    [holderPid, options.withQuery === true],
  )
  return row ?? null
}

/**
 * The Postgres cluster and database the connection reaches. `system_identifier` is set by initdb
 * and names the cluster; pg_control_system() is executable by every role unless an administrator
 * revoked it (then this fails with insufficient_privilege).
 */
export async function clusterIdentity(
  db: SqlExecutor,
): Promise<{ systemIdentifier: string; database: string } | null> {
  const [row] = await db.query<{ system_identifier: string; database: string }>(
    'select system_identifier::text as system_identifier, current_database() as database from pg_control_system()',
    [],
  )
  return row === undefined ? null : { systemIdentifier: row.system_identifier, database: row.database }
}
