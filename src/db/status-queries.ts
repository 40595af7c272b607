import type { SqlExecutor } from './executor.js'
import { quoteIdentifier } from './identifier.js'

export interface TopicStatus {
  topic: string
  pending: number
  parked: number
  oldest_pending_seconds: number | null
  sent_last_minute: number
}

export interface RelayStatus {
  id: string
  host: string
  pid: number
  heartbeat_seconds_ago: number
  shards: number[]
}

/** Read-only queries behind `postbox status` and the relay's gauges. */
export function statusQueries(schemaName: string) {
  const s = quoteIdentifier(schemaName)
  return {
    topics: (db: SqlExecutor) =>
      db.query<TopicStatus>(
        `select topic,
                count(*) filter (where status = 'pending')::int as pending,
                count(*) filter (where status = 'parked')::int as parked,
                extract(epoch from now() - min(created_at) filter (where status = 'pending'))::float8
                  as oldest_pending_seconds,
                count(*) filter (where status = 'sent' and sent_at > now() - interval '1 minute')::int
                  as sent_last_minute
         from ${s}.outbox
         where status in ('pending', 'parked') or sent_at > now() - interval '1 minute'
         group by topic
         order by topic`,
        [],
      ),

    relays: (db: SqlExecutor) =>
      db.query<RelayStatus>(
        `select r.id, r.host, r.pid, extract(epoch from now() - r.heartbeat_at)::float8 as heartbeat_seconds_ago,
                coalesce(array_agg(l.shard order by l.shard) filter (where l.shard is not null), '{}') as shards
         from ${s}.relay r
         left join ${s}.shard_lease l on l.owner = r.id and l.expires_at > now()
         group by r.id order by r.id`,
        [],
      ),

    /** Pending rows that a relay could publish now: settled and not behind a parked row of their key. */
    async publishableCount(db: SqlExecutor) {
      const [row] = await db.query<{ n: number }>(
        `select count(*)::int as n from ${s}.outbox o
         where o.status = 'pending'
           and not exists (select 1 from ${s}.outbox p where p.status = 'parked' and p.topic = o.topic and md5(p.key) = md5(o.key) and p.key = o.key and p.id < o.id)`,
        [],
      )
      return row?.n ?? 0
    },

    async unsettled(db: SqlExecutor) {
      const [row] = await db.query<{ rows: number; oldest_seconds: number | null }>(
        `select count(*)::int as rows, extract(epoch from now() - min(created_at))::float8 as oldest_seconds
         from ${s}.outbox where status = 'pending' and txid >= pg_snapshot_xmin(pg_current_snapshot())`,
        [],
      )
      return { rows: row?.rows ?? 0, oldestSeconds: row?.oldest_seconds ?? null }
    },
  }
}
