-- Parked rows are looked up by topic and an md5 of the key: a btree entry cannot hold a key
-- longer than about 2.7 kB, and a park that fails on its index would stall the row's shard.
-- Queries match `md5(p.key) = md5(o.key) and p.key = o.key` to use this index.
create index outbox_parked_key_hash_idx on {{schema}}.outbox (topic, md5(key), id) where status = 'parked';
drop index {{schema}}.outbox_parked_key_idx;
