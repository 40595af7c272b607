import { MigrationError } from '../errors.js'
import { isUndefinedTable } from './errors.js'
import type { SqlExecutor } from './executor.js'
import { horizonQuery } from './horizon.js'
import { quoteIdentifier } from './identifier.js'
import { notifyCall, notifySelect } from './notify.js'
import { publishableCondition, unsettledCondition } from './outbox-rules.js'

/** A row as the relay claims it. Ids are bigint, kept as strings. */
export interface ClaimedRow {
  id: string
  event_id: string
  event_type: string
  topic: string
  key: string
  /** The stored snapshot as JSON text; null for a tombstone. */
  payload: string | null
  headers: Record<string, string>
  created_at: Date
  shard: number
  attempts: number
  /** Bytes of the stored payload and headers as JSON text, as the claim measured them. */
  stored_bytes?: number
}

export interface ClaimOptions {
  /** Ids not to claim (rows of a batch still in flight). */
  exclude?: readonly string[]
  /** Stop adding rows once their stored payload and headers exceed this many bytes (at least one row). */
  maxBytes?: number
}

export interface NewOutboxRow {
  event_id: string
  event_type: string
  topic: string
  key: string
  payload: unknown
  headers: Record<string, string>
}

/**
 * What marking a published row does: keep it as `sent` (for replay, until retention), or delete it.
 */
export type SentRows = 'keep' | 'delete'

/**
 * Outbox ids (digit strings) as one Postgres array literal: `pg` would quote and escape each of the
 * thousands of ids a claim excludes or a mark lists, one string concatenation at a time.
 */
function idArray(ids: readonly string[]): string {
  return `{${ids.join(',')}}`
}

/** Hot outbox queries, their SQL written out once per configured schema. */
export function outboxQueries(schemaName: string, sentRows: SentRows = 'keep') {
  const s = quoteIdentifier(schemaName)

  const insertSql = `
    insert into ${s}.outbox (event_id, event_type, topic, key, payload, headers)
    select r.event_id, r.event_type, r.topic, r.key, nullif(r.payload, 'null'::jsonb), r.headers
    from jsonb_to_recordset($1::jsonb)
      as r(event_id uuid, event_type text, topic text, key text, payload jsonb, headers jsonb)
    returning id::text`

  // One row (enqueue, tombstone): a plain VALUES insert. Postgres parses and plans it in a fraction
  // of the recordset form's time, which is most of what one enqueue costs besides its round trip.
  const insertOneSql = `
    insert into ${s}.outbox (event_id, event_type, topic, key, payload, headers)
    values ($1::uuid, $2::text, $3::text, $4::text, $5::jsonb, $6::jsonb)
    returning id::text`

  // Each insert as it is, and with a NOTIFY on the channel given as the parameter after its own:
  // once per statement for many rows; for one row, in its RETURNING list, which measured ~0.04–0.09
  // ms less per enqueue than the statement-wide form (half of what the notification costs it).
  const withNotify = (insert: string, channel: string) => `
    with inserted as (${insert})
    select inserted.id from inserted, (${notifySelect(channel)}) as notified`
  const recordsetInsert = { plain: insertSql, notifying: withNotify(insertSql, '$2') }
  const oneRowInsert = { plain: insertOneSql, notifying: `${insertOneSql}, ${notifyCall('$7')} as notified` }
  const insertedIds = async (
    db: SqlExecutor,
    insert: { plain: string; notifying: string },
    values: readonly unknown[],
    notifyChannel: string | null,
  ) => {
    const rows =
      notifyChannel === null
        ? await db.query<{ id: string }>(insert.plain, values)
        : await db.query<{ id: string }>(insert.notifying, [...values, notifyChannel])
    return rows.map((r) => r.id)
  }

  // A value's size as JSON text without converting small values (the conversion is most of the
  // cost): a value stored in under 2 kB is not compressed, and its binary size is close to its text.
  const storedBytes = (column: string) => `coalesce(case when pg_column_size(${column}) < 2048
      then pg_column_size(${column}) else octet_length(${column}::text) end, 0)`
  // Up to $2 rows in id order, skipping the ids still in flight ($5), and bounded by bytes ($6):
  // rows are taken while the running total of their stored size stays within it, and the first
  // row always (one row larger than the bound is still published). The size is about the JSON text
  // the relay receives, so its memory stays bounded whatever was enqueued. With the ids given as
  // one array parameter, Postgres (15+) checks `<> all` through a hash table.
  const claimSql = `
    select c.id::text, c.event_id::text, c.event_type, c.topic, c.key, c.payload::text, c.headers,
           c.created_at, c.shard, c.attempts, c.stored_bytes
    from (
      select w.*,
             sum(w.stored_bytes) over (order by w.id rows unbounded preceding) as running_bytes,
             row_number() over (order by w.id rows unbounded preceding) as rank
      from (
        select o.*, (${storedBytes('o.payload')} + ${storedBytes('o.headers')})::float8 as stored_bytes
        from ${s}.outbox o
        where o.shard = any($1::smallint[]) and ${publishableCondition(s, 'o', '$3', '$4')}
          and o.id <> all($5::bigint[])
        order by o.id
        limit $2
      ) w
    ) c
    where c.rank = 1 or c.running_bytes <= $6::float8
    order by c.id`

  // Fencing: a relay changes rows only in shards whose lease it holds at the epoch it claimed
  // them under; `for update` keeps a takeover from moving the lease until the change commits.
  const heldSql = (shards: string, epochs: string, owner: string) => `
    held as (
      select l.shard
      from ${s}.shard_lease l
      join unnest(${shards}::smallint[], ${epochs}::bigint[]) as h(shard, epoch)
        on h.shard = l.shard and h.epoch = l.epoch
      where l.owner = ${owner}
      for update of l
    )`

  const markedRows = `o.id = any($1::bigint[]) and (o.status = 'pending') is true and o.shard in (select shard from held)`
  // Kept: a new version of the whole row (and its primary-key entry). Deleted: the row version is
  // only stamped, with a few dozen bytes of WAL; measured in Postgres alone at a 1,000,000-row
  // backlog, 10.9 against 4.5 µs of backend CPU per row (bench/claim, --delete-only). Deleted rows
  // are counted per topic in sent_count (what `status` shows as sent in the last minute), whose
  // rows older than ten minutes leave in the same statement (skipping those another relay's
  // statement is removing, so relays never wait for each other here).
  const markSentSql =
    sentRows === 'keep'
      ? `
    with ${heldSql('$2', '$3', '$4')}
    update ${s}.outbox o set status = 'sent', sent_at = now()
    where ${markedRows}
    returning o.id::text`
      : `
    with ${heldSql('$2', '$3', '$4')},
    deleted as (delete from ${s}.outbox o where ${markedRows} returning o.id, o.topic),
    counted as (insert into ${s}.sent_count (topic, rows) select topic, count(*) from deleted group by topic),
    trimmed as (
      delete from ${s}.sent_count where ctid = any(array(
        select ctid from ${s}.sent_count where at < now() - interval '10 minutes' for update skip locked)))
    select id::text from deleted`

  const parkSql = `
    with ${heldSql('$3', '$4', '$5')}
    update ${s}.outbox o
    set status = 'parked', parked_at = now(), attempts = o.attempts + 1, last_error = $2
    where o.id = $1::bigint and o.status = 'pending' and o.shard in (select shard from held)
    returning o.id::text`

  // Committed pending rows the horizon still holds back ($2 horizon from horizonSql).
  const unsettledSql = `
    select count(*)::int as rows, extract(epoch from now() - min(o.created_at))::float8 as oldest_seconds
    from ${s}.outbox o
    where ($1::smallint[] is null or o.shard = any($1::smallint[])) and ${unsettledCondition('o', '$2')}`

  const readHorizon = horizonQuery(schemaName)

  return {
    /** Writes many outbox rows in one statement inside the caller's transaction. */
    async insertOutboxRows(db: SqlExecutor, rows: readonly NewOutboxRow[], notifyChannel: string | null) {
      return insertedIds(db, recordsetInsert, [JSON.stringify(rows)], notifyChannel)
    },

    /** Writes one outbox row inside the caller's transaction; returns its id. */
    async insertOutboxRow(db: SqlExecutor, row: NewOutboxRow, notifyChannel: string | null) {
      // A null or absent payload is a tombstone, as in the recordset form.
      const payload = row.payload === null || row.payload === undefined ? null : JSON.stringify(row.payload)
      const values = [row.event_id, row.event_type, row.topic, row.key, payload, JSON.stringify(row.headers)]
      const [id] = await insertedIds(db, oneRowInsert, values, notifyChannel)
      if (id === undefined) throw new Error('the outbox insert returned no id')
      return id
    },

    /** Where claiming stops now (src/db/horizon.ts). */
    readHorizon,

    /**
     * Takes up to `limit` publishable rows in id order, at most `maxBytes` of stored payload and
     * headers (at least one row), skipping the ids in `exclude` (rows in flight). Two statements:
     * the horizon, then the claim.
     */
    async claimPendingBatch(
      db: SqlExecutor,
      shards: readonly number[],
      limit: number,
      options: ClaimOptions = {},
    ): Promise<ClaimedRow[]> {
      const { idBound, horizon } = await readHorizon(db)
      if (idBound === null || shards.length === 0) return []
      const exclude = options.exclude ?? []
      const maxBytes = options.maxBytes ?? Number.MAX_VALUE
      return db.query<ClaimedRow>(claimSql, [shards, limit, idBound, horizon, idArray(exclude), maxBytes])
    },

    /**
     * Marks published rows sent, or deletes them (`sentRows`). Returns the ids actually marked; ids
     * of shards whose lease moved on are left pending.
     */
    async markSent(
      db: SqlExecutor,
      ids: readonly string[],
      leases: readonly { shard: number; epoch: string }[],
      relayId: string,
    ) {
      // Not prepared, like the claim: their generic plans measured slower than fresh ones (the
      // claim's cost Postgres ~75% more CPU per row in a 300,000-row drain; the mark's took
      // 2.4 ms instead of 1.5 ms for batches of a few rows).
      const rows = await db.query<{ id: string }>(markSentSql, [
        idArray(ids),
        leases.map((l) => l.shard),
        leases.map((l) => l.epoch),
        relayId,
      ])
      return rows.map((r) => r.id)
    },

    /**
     * Parks a pending row with its error, fenced like markSent. Returns false when the row was not
     * parked: its shard's lease moved on (the new holder decides about it) or it is no longer pending.
     */
    async parkRow(
      db: SqlExecutor,
      id: string,
      error: string,
      leases: readonly { shard: number; epoch: string }[],
      relayId: string,
    ): Promise<boolean> {
      const rows = await db.query<{ id: string }>(parkSql, [
        id,
        error,
        leases.map((l) => l.shard),
        leases.map((l) => l.epoch),
        relayId,
      ])
      return rows.length > 0
    },

    /**
     * With sentRows 'delete', the mark counts what it deletes in sent_count: refuse to start
     * (instead of failing every mark) when the migration that adds it is pending.
     */
    async checkMarkTables(db: SqlExecutor): Promise<void> {
      if (sentRows === 'keep') return
      try {
        await db.query(`select 1 from ${s}.sent_count limit 0`, [])
      } catch (error) {
        if (!isUndefinedTable(error)) throw error
        throw new MigrationError(
          `schema ${schemaName} has no sent_count table (migration 0006_sent_count.sql), which relay.sentRows 'delete' needs: run postbox migrate`,
          { cause: error },
        )
      }
    },

    /** Pending rows no relay can claim yet because an older transaction is still open; of all shards when null. */
    async unsettledRows(db: SqlExecutor, shards: readonly number[] | null) {
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
