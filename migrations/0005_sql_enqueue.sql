-- Enqueue from SQL: triggers, migrations and services in other languages write outbox rows with
-- {{schema}}.enqueue(...). The relay fills event_type from its catalog at start-up, so the
-- function finds an event's topic. Rows written here are validated by the relay when it
-- publishes them: a payload its mapping or schema rejects is parked with the error.

create table {{schema}}.event_type (
  type text primary key,
  topic text not null,
  updated_at timestamptz not null default now()
);

-- A UUIDv7 like the event ids enqueue() writes: 48-bit Unix milliseconds, version 7, random bits.
create function {{schema}}.new_event_id() returns uuid
language sql volatile
as $$
  select encode(
    set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
      placing substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
      from 1 for 6), 52, 1), 53, 1),
    'hex')::uuid
$$;

-- Writes one event in the caller's transaction and returns its outbox id. A null payload is a
-- tombstone. `topic` is needed only for an event type the relay has not registered yet.
create function {{schema}}.enqueue(
  event_type text,
  key text,
  payload jsonb,
  headers jsonb default '{}'::jsonb,
  topic text default null
) returns bigint
language plpgsql volatile
as $$
declare
  known_topic text;
  bad_header text;
  new_id bigint;
begin
  if enqueue.event_type is null or enqueue.event_type = '' then
    raise exception 'postbox.enqueue: event_type must be a non-empty string'
      using errcode = 'invalid_parameter_value';
  end if;
  if enqueue.key is null or enqueue.key = '' then
    raise exception 'postbox.enqueue(%): key must be a non-empty string', enqueue.event_type
      using errcode = 'invalid_parameter_value';
  end if;
  if octet_length(enqueue.key) > 1024 then
    raise exception 'postbox.enqueue(%): the key is % bytes, over the limit of 1024',
      enqueue.event_type, octet_length(enqueue.key)
      using errcode = 'invalid_parameter_value';
  end if;
  if enqueue.headers is null or jsonb_typeof(enqueue.headers) <> 'object' then
    raise exception 'postbox.enqueue(%): headers must be a JSON object of header names to strings',
      enqueue.event_type
      using errcode = 'invalid_parameter_value';
  end if;
  select h.key into bad_header
  from jsonb_each(enqueue.headers) as h
  where jsonb_typeof(h.value) <> 'string'
     or lower(h.key) in ('event-id', 'event-type', 'outbox-id', 'created-at', 'content-type', 'replay-of')
  limit 1;
  if bad_header is not null then
    raise exception 'postbox.enqueue(%): header "%" must be a string and not one the relay sets (event-id, event-type, outbox-id, created-at, content-type, replay-of)',
      enqueue.event_type, bad_header
      using errcode = 'invalid_parameter_value';
  end if;

  select t.topic into known_topic from {{schema}}.event_type t where t.type = enqueue.event_type;
  if known_topic is null and enqueue.topic is null then
    raise exception 'postbox.enqueue: unknown event type "%"', enqueue.event_type
      using errcode = 'invalid_parameter_value',
            hint = 'start a relay whose catalog defines it (it registers its event types), or pass the topic';
  end if;
  if known_topic is not null and enqueue.topic is not null and known_topic <> enqueue.topic then
    raise exception 'postbox.enqueue(%): topic "%" differs from the registered topic "%"',
      enqueue.event_type, enqueue.topic, known_topic
      using errcode = 'invalid_parameter_value';
  end if;

  insert into {{schema}}.outbox (event_id, event_type, topic, key, payload, headers)
  values (
    {{schema}}.new_event_id(),
    enqueue.event_type,
    coalesce(known_topic, enqueue.topic),
    enqueue.key,
    nullif(enqueue.payload, 'null'::jsonb),
    enqueue.headers
  )
  returning id into new_id;
  -- The relay's wake-up channel is postbox_<schema> (src/db/notify.ts); {{schema}} arrives quoted.
  perform pg_notify('postbox_' || btrim('{{schema}}', '"'), '');
  return new_id;
end
$$;
