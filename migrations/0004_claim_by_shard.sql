-- The claim reads one index range per shard, (shard, id) among pending rows, so its cost is the
-- batch size whatever the planner's statistics say. No row changes: pending, parked and sent
-- rows stay as they are. The build blocks inserts into the outbox while it runs; on a large
-- outbox build the index first with
--   create index concurrently outbox_pending_shard_idx on <schema>.outbox (shard, id) where status = 'pending'
-- and this migration only swaps it in.
create index if not exists outbox_pending_shard_idx on {{schema}}.outbox (shard, id) where status = 'pending';
drop index {{schema}}.outbox_pending_idx;
alter index {{schema}}.outbox_pending_shard_idx rename to outbox_pending_idx;

-- The claim's id bound reads the identity's last value: with per-session caching a backend could
-- hand out a smaller id later than a larger one was read, so the cache stays at one.
alter table {{schema}}.outbox alter column id set cache 1;

-- The claim as a function only so that it can carry its planner settings: with statistics taken
-- while few rows were pending (a bulk backlog arrived since), the planner otherwise picks a bitmap
-- scan of every pending row of a shard plus a sort — O(backlog) for one batch. With these off,
-- the only plan left walks (shard, id) in order and stops at the batch: O(batch) whatever the
-- statistics. The horizon ($3 id bound, $4 xid horizon) is read by the caller before this runs.
create function {{schema}}.claim_pending(shards smallint[], batch integer, id_bound bigint, horizon xid8)
returns setof {{schema}}.outbox
language sql stable
set enable_bitmapscan = off
set enable_sort = off
set enable_seqscan = off
as $$
  select o.*
  from unnest(shards) as sh(shard)
  cross join lateral (
    select o.* from {{schema}}.outbox o
    where o.shard = sh.shard and o.status = 'pending'
      and o.id <= id_bound
      and o.txid < coalesce(horizon, pg_snapshot_xmax(pg_current_snapshot()))
      and not exists (
        select 1 from {{schema}}.outbox p
        where p.status = 'parked' and p.topic = o.topic and p.key = o.key and p.id < o.id)
    order by o.id
    limit batch
  ) o
  limit batch
$$;
