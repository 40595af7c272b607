import { isUndefinedTable } from './errors.js'
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
  const keptCountsSql = `
    select topic,
           count(*) filter (where status = 'pending') as pending,
           count(*) filter (where status = 'parked') as parked,
           extract(epoch from now() - min(created_at) filter (where status = 'pending'))::float8
             as oldest_pending_seconds,
           count(*) filter (where status = 'sent' and sent_at > now() - interval '1 minute')
             as sent_last_minute
    from ${s}.outbox
    where status in ('pending', 'parked') or sent_at > now() - interval '1 minute'
    group by topic`
  const byTopic = (counts: string) => `
    select topic, sum(pending)::int as pending, sum(parked)::int as parked,
           max(oldest_pending_seconds) as oldest_pending_seconds,
           sum(sent_last_minute)::int as sent_last_minute
    from (${counts}) counts
    group by topic
    order by topic`
  // Sent rows are counted where they are kept, and in sent_count where relays delete them
  // (relay.sentRows: 'delete').
  const topicsSql = byTopic(`${keptCountsSql}
    union all
    select topic, 0, 0, null::float8, sum(rows)
    from ${s}.sent_count
    where at > now() - interval '1 minute'
    group by topic`)
  const keptTopicsSql = byTopic(keptCountsSql)
  return {
    /** Per topic: pending, parked, the oldest pending row's age and the rows sent in the last minute. */
    async topics(db: SqlExecutor): Promise<TopicStatus[]> {
      try {
        return await db.query<TopicStatus>(topicsSql, [])
      } catch (error) {
        // A schema whose migration 0006 is pending (status reports it) has no deleted rows to count.
        if (!isUndefinedTable(error)) throw error
        return db.query<TopicStatus>(keptTopicsSql, [])
      }
    },

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
