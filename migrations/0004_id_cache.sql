-- The relay's horizon (src/db/horizon.ts) reads the identity's last value as the bound of ids
-- already handed out. With per-session caching a backend could hand out a smaller id after a
-- larger one was read, so the cache stays at one (the default; this pins it).
alter table {{schema}}.outbox alter column id set cache 1;
