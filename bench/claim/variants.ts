// The claim and mark variants the claim benchmark compares. Schema is fixed: postbox.
import type pg from 'pg'

export interface ClaimVariant {
  name: string
  /** Statements run inside the claim's transaction first (SET LOCAL …). */
  setup: string[]
  sql: string
  values(shards: number[], limit: number): unknown[]
}

const columns = `o.id::text as id, o.event_id::text, o.event_type, o.topic, o.key, o.payload, o.headers,
       o.created_at, o.shard, o.attempts`
const notBehindParked = `not exists (
        select 1 from postbox.outbox p
        where p.status = 'parked' and p.topic = o.topic and p.key = o.key and p.id < o.id)`

// Today's claim (src/db/outbox-queries.ts at 0.1).
const todaySql = `
  select ${columns}
  from postbox.outbox o
  where o.shard = any($1::smallint[])
    and o.status = 'pending'
    and o.txid < pg_snapshot_xmin(pg_current_snapshot())
    and ${notBehindParked}
  order by o.id
  limit $2`

const noBitmapNoSort = ['set local enable_bitmapscan = off', 'set local enable_sort = off']

export let lowWater = 0

export const claimVariants: ClaimVariant[] = [
  { name: 'C0 today', setup: [], sql: todaySql, values: (s, l) => [s, l] },
  { name: 'C1 today, no bitmap/sort', setup: noBitmapNoSort, sql: todaySql, values: (s, l) => [s, l] },
  {
    name: 'C1k keyset id > lowWater',
    setup: noBitmapNoSort,
    sql: todaySql.replace('and o.status', 'and o.id > $3 and o.status'),
    values: (s, l) => [s, l, lowWater],
  },
  {
    name: 'C6 lateral (shard,id), no settings',
    setup: ['drop index postbox.outbox_pending_idx'],
    sql: `
  select ${columns}
  from unnest($1::smallint[]) as sh(shard)
  cross join lateral (
    select o.* from postbox.outbox o
    where o.shard = sh.shard and o.status = 'pending'
      and o.id <= $3::bigint and o.txid < coalesce($4::xid8, pg_snapshot_xmax(pg_current_snapshot()))
      and ${notBehindParked}
    order by o.id
    limit $2
  ) o
  limit $2`,
    values: (s, l) => [s, l, '9223372036854775807', null],
  },
  {
    name: 'C7 claim_pending() (0004)',
    setup: ['drop index postbox.outbox_pending_idx'],
    sql: `select o.id::text as id, o.event_id::text, o.event_type, o.topic, o.key, o.payload, o.headers,
       o.created_at, o.shard, o.attempts
     from postbox.claim_pending($1::smallint[], $2::int, $3::bigint, $4::xid8) o`,
    values: (s, l) => [s, l, '9223372036854775807', null],
  },
]

export interface MarkVariant {
  name: string
  table: string
  sql: string
  values(ids: string[]): unknown[]
  pick(c: pg.Client, n: number): Promise<string[]>
}

const leaseCte = `with held as (
      select l.shard from postbox.shard_lease l
      join unnest($2::smallint[], $3::bigint[]) as h(shard, epoch) on h.shard = l.shard and h.epoch = l.epoch
      where l.owner = $4
      for update of l)`
const allShards = Array.from({ length: 16 }, (_, i) => i)
const leaseValues = (ids: string[]) => [ids, allShards, allShards.map(() => '1'), 'bench']
const pickPending = (table: string) => async (c: pg.Client, n: number) => {
  const { rows } = await c.query<{ id: string }>(
    `select id::text from ${table} where status = 'pending' order by id limit $1`,
    [n],
  )
  return rows.map((r) => r.id)
}

export const markVariants: MarkVariant[] = [
  {
    name: 'M1 today (lease CTE)',
    table: 'postbox.outbox',
    sql: `${leaseCte}
      update postbox.outbox o set status = 'sent', sent_at = now()
      where o.id = any($1::bigint[]) and o.status = 'pending' and o.shard in (select shard from held)
      returning o.id::text`,
    values: leaseValues,
    pick: pickPending('postbox.outbox'),
  },
  {
    name: 'M1b today, status hidden',
    table: 'postbox.outbox',
    sql: `${leaseCte}
      update postbox.outbox o set status = 'sent', sent_at = now()
      where o.id = any($1::bigint[]) and (o.status = 'pending') is true and o.shard in (select shard from held)
      returning o.id::text`,
    values: leaseValues,
    pick: pickPending('postbox.outbox'),
  },
  {
    name: 'M9 delete on publish',
    table: 'postbox.outbox',
    sql: `${leaseCte}
      delete from postbox.outbox o
      where o.id = any($1::bigint[]) and (o.status = 'pending') is true and o.shard in (select shard from held)
      returning o.id::text`,
    values: leaseValues,
    pick: pickPending('postbox.outbox'),
  },
  {
    name: 'M2b unnest, status hidden',
    table: 'postbox.outbox',
    sql: `${leaseCte}
      update postbox.outbox o set status = 'sent', sent_at = now()
      from unnest($1::bigint[]) as m(id)
      where o.id = m.id and (o.status = 'pending') is true and o.shard in (select shard from held)
      returning o.id::text`,
    values: leaseValues,
    pick: pickPending('postbox.outbox'),
  },
  {
    name: 'M2 update from unnest',
    table: 'postbox.outbox',
    sql: `${leaseCte}
      update postbox.outbox o set status = 'sent', sent_at = now()
      from unnest($1::bigint[]) as m(id)
      where o.id = m.id and o.status = 'pending' and o.shard in (select shard from held)
      returning o.id::text`,
    values: leaseValues,
    pick: pickPending('postbox.outbox'),
  },
  {
    name: 'M3 HOT: no status index, ff80',
    table: 'postbox.outbox_hot',
    sql: `update postbox.outbox_hot o set status = 'sent', sent_at = now()
      from unnest($1::bigint[]) as m(id) where o.id = m.id and o.status = 'pending'`,
    values: (ids) => [ids],
    pick: pickPending('postbox.outbox_hot'),
  },
  {
    name: 'M4 HOT: no status index, ff50',
    table: 'postbox.outbox_hot50',
    sql: `update postbox.outbox_hot50 o set status = 'sent', sent_at = now()
      from unnest($1::bigint[]) as m(id) where o.id = m.id and o.status = 'pending'`,
    values: (ids) => [ids],
    pick: pickPending('postbox.outbox_hot50'),
  },
  {
    name: 'M5 delete from pending queue',
    table: 'postbox.outbox_queue',
    sql: `delete from postbox.outbox_queue q using unnest($1::bigint[]) as m(id) where q.id = m.id`,
    values: (ids) => [ids],
    pick: async (c, n) => {
      const { rows } = await c.query<{ id: string }>(
        'select id::text from postbox.outbox_queue order by id limit $1',
        [n],
      )
      return rows.map((r) => r.id)
    },
  },
]

const claimPendingFunction = `
create function postbox.claim_pending(shards smallint[], batch integer, id_bound bigint, horizon xid8)
returns setof postbox.outbox
language sql stable
set enable_bitmapscan = off
set enable_sort = off
set enable_seqscan = off
as $$
  select o.*
  from unnest(shards) as sh(shard)
  cross join lateral (
    select o.* from postbox.outbox o
    where o.shard = sh.shard and o.status = 'pending'
      and o.id <= id_bound
      and o.txid < coalesce(horizon, pg_snapshot_xmax(pg_current_snapshot()))
      and not exists (
        select 1 from postbox.outbox p
        where p.status = 'parked' and p.topic = o.topic and p.key = o.key and p.id < o.id)
    order by o.id
    limit batch
  ) o
  limit batch
$$`

/** Indexes and side tables the variants need; created before the bulk fill, as a migration would. */
export async function prepareVariants(c: pg.Client) {
  await c.query(
    `create index outbox_pending_shard_idx on postbox.outbox (shard, id) where status = 'pending'`,
  )
  // The claim function as it was measured for migration 0004 (not adopted: docs/CLAIM-PATH.md §2).
  await c.query(claimPendingFunction)
  await c.query(
    `update postbox.shard_lease set owner = 'bench', epoch = 1, expires_at = now() + interval '1 day'`,
  )
}

/** Side tables for the HOT and queue layouts, filled from the first rows of the backlog. */
export async function prepareSideTables(c: pg.Client, n: number) {
  for (const [table, ff] of [
    ['outbox_hot', 80],
    ['outbox_hot50', 50],
  ] as const) {
    await c.query(
      `create table postbox.${table} (like postbox.outbox including defaults) with (fillfactor = ${ff}, autovacuum_enabled = off)`,
    )
    await c.query(`alter table postbox.${table} add primary key (id)`)
    await c.query(
      `insert into postbox.${table} (id, event_id, event_type, topic, key, payload, headers, created_at, txid, shard, status)
       select id, event_id, event_type, topic, key, payload, headers, created_at, txid, shard, status
       from postbox.outbox where status = 'pending' order by id limit $1`,
      [n],
    )
  }
  await c.query('create table postbox.outbox_queue (id bigint primary key, shard smallint not null)')
  await c.query(
    `insert into postbox.outbox_queue select id, shard from postbox.outbox where status = 'pending' order by id limit $1`,
    [n],
  )
}

export function setLowWater(v: number) {
  lowWater = v
}

/**
 * The layout of docs/CLAIM-PATH.md §6.3, in Postgres alone: rows never change after insert, each
 * shard's progress is one row, sent rows leave by id range, parked keys live in a small table.
 * Filled from the pending rows of the backlog; not analyzed (the claim pins its plan as the relay's
 * connections do).
 */
export async function prepareCursorLayout(c: pg.Client) {
  await c.query(`create table postbox.outbox_log (
      id bigint primary key, event_id uuid not null, event_type text not null, topic text not null,
      key text not null, payload jsonb, headers jsonb not null, created_at timestamptz not null,
      txid xid8 not null, shard smallint not null) with (autovacuum_enabled = off)`)
  await c.query(
    `insert into postbox.outbox_log
     select id, event_id, event_type, topic, key, payload, headers, created_at, txid, shard
     from postbox.outbox where status = 'pending' order by id`,
  )
  await c.query('create table postbox.shard_cursor (shard smallint primary key, position bigint not null)')
  await c.query('insert into postbox.shard_cursor select g, 0 from generate_series(0, 15) g')
  await c.query(
    'create table postbox.parked_key (topic text not null, key text not null, id bigint not null, primary key (topic, key, id))',
  )
}

/**
 * Rows after each shard's cursor ($2: the positions of shards 0..15, $3 the smallest of them), in
 * id order, up to the id bound; none behind a parked row of its key (looked up per row only while
 * some key is parked, as the relay's claim does).
 */
export const cursorClaimSql = `
  select o.id::text as id, o.event_id::text, o.event_type, o.topic, o.key, o.payload, o.headers,
         o.created_at, o.shard
  from postbox.outbox_log o
  where o.shard = any($1::smallint[]) and o.id > $3::bigint and o.id <= $4::bigint
    and o.id > ($2::bigint[])[o.shard + 1]
    and not (exists (select 1 from postbox.parked_key) and exists (
      select 1 from postbox.parked_key p where p.topic = o.topic and p.key = o.key and p.id < o.id))
  order by o.id
  limit $5`

/** A batch taken in id order settles every owned shard up to its last id: one row per shard. */
export const cursorMarkSql = `
  update postbox.shard_cursor c set position = m.position
  from unnest($1::smallint[], $2::bigint[]) as m(shard, position)
  where c.shard = m.shard and c.position < m.position`

/** Sent rows leave by range. */
export const cursorRetireSql = 'delete from postbox.outbox_log where id > $1::bigint and id <= $2::bigint'
