import type { SqlExecutor } from './executor.js'
import { quoteIdentifier } from './identifier.js'
import { outboxQueries } from './outbox-queries.js'
import { awaitingRelayCondition } from './outbox-rules.js'

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
  const outbox = outboxQueries(schemaName)
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

    /**
     * Pending rows a relay publishes without an operator, now or once they are settled (what
     * `--until-drained` waits for). Rows waiting behind a parked row are not counted.
     */
    async publishableCount(db: SqlExecutor) {
      const [row] = await db.query<{ n: number }>(
        `select count(*)::int as n from ${s}.outbox o where ${awaitingRelayCondition(s, 'o')}`,
        [],
      )
      return row?.n ?? 0
    },

    /** The committed rows that wait for an older open transaction, as the relay's stall report counts them. */
    unsettled: (db: SqlExecutor) => outbox.unsettledRows(db, null),
  }
}
