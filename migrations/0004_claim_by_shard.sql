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
