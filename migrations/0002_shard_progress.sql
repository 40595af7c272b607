-- Exactly-once delivery: the ids of a batch are recorded here under a random token before its
-- Kafka transaction commits that token as the shard's progress. A relay taking over a shard
-- reads the committed token back and marks exactly those rows sent.
create table {{schema}}.inflight_batch (
  token uuid primary key,
  shard smallint not null,
  ids bigint[] not null,
  relay text not null,
  created_at timestamptz not null default now()
);
create index inflight_batch_shard_idx on {{schema}}.inflight_batch (shard);
