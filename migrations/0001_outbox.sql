-- Outbox rows, shard leases and live relays. {{schema}} is the configured, validated schema name.
-- Shard count is fixed at 16: the generated `shard` column and the shard_lease rows agree on it.

create table {{schema}}.outbox (
  id bigint generated always as identity primary key,
  event_id uuid not null,
  event_type text not null,
  topic text not null,
  key text not null,
  payload jsonb,
  headers jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  txid xid8 not null default pg_current_xact_id(),
  shard smallint not null generated always as ((abs(hashtextextended(key, 0) % 16))::smallint) stored,
  status text not null default 'pending' check (status in ('pending', 'sent', 'parked', 'skipped')),
  attempts integer not null default 0,
  last_error text,
  sent_at timestamptz,
  parked_at timestamptz,
  resolved_by text
) with (
  -- Status updates are not HOT (the pending index depends on status); keep room on pages and
  -- let autovacuum clear dead rows and refresh statistics long before a default 20% churn.
  fillfactor = 80,
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_threshold = 1000,
  autovacuum_analyze_scale_factor = 0.01,
  autovacuum_analyze_threshold = 1000
);

-- The relay's claim reads pending rows in id order (and filters its shards), never walking sent rows.
create index outbox_pending_idx on {{schema}}.outbox (id) where status = 'pending';
-- Parked rows block later rows of their topic and key; there are few, so this index stays tiny.
create index outbox_parked_key_idx on {{schema}}.outbox (topic, key, id) where status = 'parked';

create table {{schema}}.shard_lease (
  shard smallint primary key,
  owner text,
  epoch bigint not null default 0,
  expires_at timestamptz
);
insert into {{schema}}.shard_lease (shard) select generate_series(0, 15);

create table {{schema}}.relay (
  id text primary key,
  host text not null,
  pid integer not null,
  started_at timestamptz not null default now(),
  heartbeat_at timestamptz not null default now()
);
