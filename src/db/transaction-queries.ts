import type { SqlExecutor } from './executor.js'
import { quoteIdentifier } from './identifier.js'
import type { ClaimedRow } from './outbox-queries.js'

/** An outbox row as its transaction wrote it: the claimed-row columns without relay state, the payload parsed. */
export type OutboxRowOfTransaction = Omit<ClaimedRow, 'shard' | 'attempts' | 'payload'> & { payload: unknown }

/** Queries that look at the caller's open transaction (for application tests). */
export function transactionQueries(schemaName: string) {
  const s = quoteIdentifier(schemaName)

  // _if_assigned: a transaction that has written nothing has no xid, and must not be given one.
  const rowsSql = `
    select o.id::text, o.event_id::text, o.event_type, o.topic, o.key, o.payload, o.headers, o.created_at
    from ${s}.outbox o
    where o.txid = pg_current_xact_id_if_assigned()
      and ($1::text is null or o.event_type = $1)
      and ($2::text is null or o.topic = $2)
    order by o.id`

  return {
    /** Outbox rows written so far by the transaction this connection is in. */
    outboxRowsOfCurrentTransaction(
      db: SqlExecutor,
      filter: { eventType: string | null; topic: string | null },
    ) {
      return db.query<OutboxRowOfTransaction>(rowsSql, [filter.eventType, filter.topic])
    },
  }
}
