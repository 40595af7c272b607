-- A relay that deletes the rows it publishes (relay.sentRows: 'delete') leaves no sent row for
-- `postbox status` to count: the statement that deletes them adds one row per topic here, and
-- removes rows older than ten minutes; `status` sums the last minute.
create table {{schema}}.sent_count (
  at timestamptz not null default now(),
  topic text not null,
  rows integer not null
);
create index sent_count_at_idx on {{schema}}.sent_count (at);
