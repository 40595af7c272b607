import type { SqlExecutor } from './executor.js'
import { quoteIdentifier } from './identifier.js'
import { notifySelect } from './notify.js'

export interface ParkedRow {
  id: string
  event_type: string
  topic: string
  key: string
  attempts: number
  parked_at: Date | null
  last_error: string | null
}

export interface ParkedFilter {
  topic?: string
  eventType?: string
}

/** Which rows `postbox replay` copies; every field narrows the selection, ids are inclusive. */
export interface ReplaySelection {
  topic?: string
  eventType?: string
  key?: string
  fromId?: string
  toId?: string
  since?: Date
  until?: Date
}

export interface ReplaySampleRow {
  id: string
  event_type: string
  topic: string
  key: string
  status: string
  created_at: Date
  tombstone: boolean
}

/** Statuses purge may delete. Pending rows are never purged: they are not published yet. */
export type PurgeableStatus = 'sent' | 'parked' | 'skipped'

/** Operator queries on the outbox (parked rows, replay, purge), their SQL written out once per schema. */
export function opsQueries(schemaName: string) {
  const s = quoteIdentifier(schemaName)

  const parkedFilterSql = `($1::text is null or topic = $1) and ($2::text is null or event_type = $2)`

  // Ids leave as text (bigint exceeds JS numbers) but sort as numbers: `order by o.id`, because a
  // bare `id` would name the text output column and put 1001 before 95.
  const listParkedSql = `
    select o.id::text, o.event_type, o.topic, o.key, o.attempts, o.parked_at, o.last_error
    from ${s}.outbox o
    where o.status = 'parked' and ${parkedFilterSql}
    order by o.id
    limit $3`

  // Back to pending: the relay maps the row again with the code it runs now; when that fails
  // again, it parks the row again and attempts goes up. last_error is kept until then.
  const retryParkedByIdSql = `
    update ${s}.outbox set status = 'pending', resolved_by = $2
    where id = any($1::bigint[]) and status = 'parked'
    returning id::text`

  const retryAllParkedSql = `
    update ${s}.outbox set status = 'pending', resolved_by = $3
    where status = 'parked' and ${parkedFilterSql}
    returning id::text`

  // The reason replaces last_error but keeps the error the row was parked with.
  const skipParkedSql = `
    update ${s}.outbox
    set status = 'skipped', resolved_by = $2,
        last_error = 'skipped: ' || $3::text || coalesce(' (parked with: ' || last_error || ')', '')
    where id = any($1::bigint[]) and status = 'parked'
    returning id::text`

  const statusesSql = `select o.id::text, o.status from ${s}.outbox o where o.id = any($1::bigint[]) order by o.id`

  // Skipped rows stay skipped: the operator decided they must not be published.
  const replayWhereSql = `
    status <> 'skipped'
    and ($1::text is null or topic = $1)
    and ($2::text is null or event_type = $2)
    and ($3::text is null or key = $3)
    and ($4::bigint is null or id >= $4)
    and ($5::bigint is null or id <= $5)
    and ($6::timestamptz is null or created_at >= $6)
    and ($7::timestamptz is null or created_at < $7)`

  const replayValues = (q: ReplaySelection) => [
    q.topic ?? null,
    q.eventType ?? null,
    q.key ?? null,
    q.fromId ?? null,
    q.toId ?? null,
    q.since ?? null,
    q.until ?? null,
  ]

  const countReplaySql = `select count(*)::int as n from ${s}.outbox where ${replayWhereSql} and id <= $8`

  const sampleReplaySql = `
    select o.id::text, o.event_type, o.topic, o.key, o.status, o.created_at, o.payload is null as tombstone
    from ${s}.outbox o where ${replayWhereSql} and o.id <= $8
    order by o.id limit $9`

  // Copies in id order within one statement, so identity values are handed out in the same
  // order: the relay publishes the copies of a key in their original order. The payload never
  // leaves Postgres (exact jsonb, no JS number rounding); new event ids come from the caller.
  const copyReplayBatchSql = `
    with source as (
      select id, event_id, event_type, topic, key, payload, headers
      from ${s}.outbox
      where ${replayWhereSql} and id > $8 and id <= $9
      order by id
      limit $10
    ), numbered as (
      select source.*, row_number() over (order by id) as n from source
    ), copied as (
      insert into ${s}.outbox (event_id, event_type, topic, key, payload, headers)
      select e.event_id, r.event_type, r.topic, r.key, r.payload,
             r.headers || jsonb_build_object('replay-of', coalesce(r.headers->>'replay-of', r.event_id::text))
      from numbered r join unnest($11::uuid[]) with ordinality as e(event_id, n) on e.n = r.n
      order by r.id
      returning 1
    )
    select (select max(id)::text from source) as last_id, (select count(*)::int from copied) as copied`

  const purgeWhereSql = `
    status = any($1::text[])
    and ($2::timestamptz is null or coalesce(sent_at, parked_at, created_at) < $2)`

  const countPurgeableSql = `select count(*)::int as n from ${s}.outbox where ${purgeWhereSql}`

  // One short statement per batch: locks at most `limit` rows, never the table, and skips rows
  // another session holds (an operator retrying a parked row at the same moment).
  const purgeBatchSql = `
    with doomed as (
      select id from ${s}.outbox
      where ${purgeWhereSql}
      order by id
      limit $3
      for update skip locked
    ), deleted as (
      delete from ${s}.outbox o using doomed where o.id = doomed.id returning 1
    )
    select count(*)::int as n from deleted`

  /** Deletes at most `limit` purgeable rows, oldest ids first, in one short statement; returns how many. */
  const purgeBatch = async (
    db: SqlExecutor,
    statuses: readonly PurgeableStatus[],
    before: Date | null,
    limit: number,
  ) => {
    const [row] = await db.query<{ n: number }>(purgeBatchSql, [statuses, before, limit])
    return row?.n ?? 0
  }

  return {
    listParked(db: SqlExecutor, filter: ParkedFilter, limit: number) {
      return db.query<ParkedRow>(listParkedSql, [filter.topic ?? null, filter.eventType ?? null, limit])
    },

    async retryParkedById(db: SqlExecutor, ids: readonly string[], by: string) {
      return (await db.query<{ id: string }>(retryParkedByIdSql, [ids, by])).map((r) => r.id)
    },

    async retryAllParked(db: SqlExecutor, filter: ParkedFilter, by: string) {
      const rows = await db.query<{ id: string }>(retryAllParkedSql, [
        filter.topic ?? null,
        filter.eventType ?? null,
        by,
      ])
      return rows.map((r) => r.id)
    },

    async skipParked(db: SqlExecutor, ids: readonly string[], by: string, reason: string) {
      return (await db.query<{ id: string }>(skipParkedSql, [ids, by, reason])).map((r) => r.id)
    },

    /** Status of each given row that exists (for explaining why a row was not retried or skipped). */
    rowStatuses(db: SqlExecutor, ids: readonly string[]) {
      return db.query<{ id: string; status: string }>(statusesSql, [ids])
    },

    /** The newest row id now; replay stops there so it never copies its own copies. */
    async maxOutboxId(db: SqlExecutor) {
      const [row] = await db.query<{ id: string | null }>(`select max(id)::text as id from ${s}.outbox`, [])
      return row?.id ?? '0'
    },

    async countReplayRows(db: SqlExecutor, selection: ReplaySelection, upToId: string) {
      const [row] = await db.query<{ n: number }>(countReplaySql, [...replayValues(selection), upToId])
      return row?.n ?? 0
    },

    sampleReplayRows(db: SqlExecutor, selection: ReplaySelection, upToId: string, limit: number) {
      return db.query<ReplaySampleRow>(sampleReplaySql, [...replayValues(selection), upToId, limit])
    },

    /**
     * Inserts pending copies of the next selected rows after `afterId` (at most `eventIds.length`),
     * each with the next of `eventIds`. Returns the last source id copied (null when none was left).
     */
    async copyReplayBatch(
      db: SqlExecutor,
      selection: ReplaySelection,
      afterId: string,
      upToId: string,
      eventIds: readonly string[],
    ) {
      const [row] = await db.query<{ last_id: string | null; copied: number }>(copyReplayBatchSql, [
        ...replayValues(selection),
        afterId,
        upToId,
        eventIds.length,
        eventIds,
      ])
      return { lastId: row?.last_id ?? null, copied: row?.copied ?? 0 }
    },

    async countPurgeable(db: SqlExecutor, statuses: readonly PurgeableStatus[], before: Date | null) {
      const [row] = await db.query<{ n: number }>(countPurgeableSql, [statuses, before])
      return row?.n ?? 0
    },

    purgeBatch,

    /**
     * Deletes every purgeable row, oldest ids first, in batches of `batchSize`, each its own short statement, so the
     * table is never locked for long. `onBatch` hears each batch's count.
     */
    async purgeAll(
      db: SqlExecutor,
      statuses: readonly PurgeableStatus[],
      before: Date | null,
      batchSize: number,
      onBatch: (deleted: number) => void = () => {},
    ) {
      let deleted = 0
      let batches = 0
      for (;;) {
        const n = await purgeBatch(db, statuses, before, batchSize)
        deleted += n
        if (n > 0) batches++
        onBatch(n)
        if (n < batchSize) return { deleted, batches }
      }
    },

    /** Wakes relays that LISTEN (a hint; they poll anyway). */
    async notifyRelays(db: SqlExecutor, channel: string) {
      await db.query(notifySelect('$1'), [channel])
    },
  }
}

export type OpsQueries = ReturnType<typeof opsQueries>
