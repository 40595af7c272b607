import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { runPostbox } from '../support/cli.js'
import { orderEvent } from '../support/events.js'
import { readTopic, startRelay } from '../support/relay.js'
import { createMigratedDatabase, queryRows, uniqueName, waitFor } from '../support/stack.js'

const run = promisify(execFile)

/** A plain psql session, as a service in another language or an operator would run it. */
async function psql(url: string, sql: string): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run('psql', [url, '-X', '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql])
    return { stdout, stderr, code: 0 }
  } catch (error) {
    const failed = error as { stdout: string; stderr: string; code: number }
    return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code }
  }
}

// The trigger of the README's "Enqueue from SQL" section, for one event type.
const triggerSql = (eventType: string) => `
  create table orders (
    id integer primary key,
    customer text not null,
    total_cents bigint not null,
    status text not null,
    internal_note text
  );
  create function orders_outbox() returns trigger language plpgsql as $$
  begin
    if tg_op = 'DELETE' then
      perform postbox.enqueue('${eventType}', old.id::text, null);
      return old;
    end if;
    perform postbox.enqueue('${eventType}', new.id::text, to_jsonb(new));
    return new;
  end $$;
  create trigger orders_outbox after insert or update or delete on orders
    for each row execute function orders_outbox();`

describe('postbox.enqueue() writes outbox rows from SQL', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>

  before(async () => {
    db = await createMigratedDatabase('pbsqlenq')
  })
  after(async () => db.drop())

  test('a trigger on a domain table publishes an upsert on insert and update and a tombstone on delete', async () => {
    const topic = uniqueName('sql.trigger')
    const OrderChanged = orderEvent(topic)
    const relay = await startRelay(db.url, [OrderChanged])
    try {
      await queryRows(db.url, triggerSql(OrderChanged.type))
      await queryRows(db.url, "insert into orders values (1, 'ada', 1200, 'new', 'secret')")
      await queryRows(db.url, "update orders set status = 'paid', total_cents = 1300 where id = 1")
      await queryRows(db.url, 'delete from orders where id = 1')
      const published = await waitFor('three records', async () => {
        const r = await readTopic(topic)
        return r.length === 3 ? r : undefined
      })
      assert.deepEqual(
        published.map((p) => ({ key: p.key, value: p.value, type: p.headers['event-type'] })),
        [
          {
            key: '1',
            value: { orderId: '1', customer: 'ada', totalCents: 1200, version: 0 },
            type: OrderChanged.type,
          },
          {
            key: '1',
            value: { orderId: '1', customer: 'ada', totalCents: 1300, version: 0 },
            type: OrderChanged.type,
          },
          { key: '1', value: null, type: OrderChanged.type },
        ],
      )
    } finally {
      await relay.stop()
    }
  })

  test('a plain psql session enqueues with headers inside its own transaction', async () => {
    const topic = uniqueName('sql.psql')
    const OrderChanged = orderEvent(topic)
    const relay = await startRelay(db.url, [OrderChanged])
    try {
      const payload = JSON.stringify({ id: 5, customer: 'grace', total_cents: 500, status: 'new' })
      const result = await psql(
        db.url,
        `begin; select postbox.enqueue('${OrderChanged.type}', '5', '${payload}', '{"source": "billing"}'); commit`,
      )
      assert.equal(result.code, 0, result.stderr)
      const id = result.stdout.split('\n').find((line) => /^\d+$/.test(line))
      assert.ok(id, `psql printed the outbox id: ${result.stdout}`)
      const [published] = await waitFor('one record', async () => {
        const r = await readTopic(topic)
        return r.length === 1 ? r : undefined
      })
      assert.equal(published?.key, '5')
      assert.deepEqual(published?.value, { orderId: '5', customer: 'grace', totalCents: 500, version: 0 })
      assert.equal(published?.headers.source, 'billing')
      assert.equal(published?.headers['outbox-id'], id)
      assert.match(published?.headers['event-id'] ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab]/)
    } finally {
      await relay.stop()
    }
  })

  test('a rolled back psql transaction leaves no row', async () => {
    const topic = uniqueName('sql.rollback')
    const OrderChanged = orderEvent(topic)
    const result = await psql(
      db.url,
      `begin; select postbox.enqueue('${OrderChanged.type}', '9', '{}', topic => '${topic}'); rollback`,
    )
    assert.equal(result.code, 0, result.stderr)
    const rows = await queryRows(db.url, 'select 1 from postbox.outbox where topic = $1', [topic])
    assert.equal(rows.length, 0)
  })

  test('an event type no relay has registered is refused with a clear SQL error', async () => {
    const result = await psql(db.url, "select postbox.enqueue('no.such.event', '1', '{}')")
    assert.notEqual(result.code, 0)
    assert.match(result.stderr, /unknown event type "no\.such\.event"/)
    assert.match(result.stderr, /HINT:.*pass the topic/)
  })

  test('bad keys and headers are refused with a clear SQL error and leave no row; empty headers pass', async () => {
    const topic = uniqueName('sql.checks')
    const enqueue = (key: string, headers: string) =>
      psql(db.url, `select postbox.enqueue('sql.checks', ${key}, '{"id": 1}', '${headers}', '${topic}')`)
    const refused: [string, string, RegExp][] = [
      ["''", '{}', /key must be a non-empty string/],
      [`repeat('k', 1025)`, '{}', /the key is 1025 bytes, over the limit of 1024/],
      ["'1'", '[]', /headers must be a JSON object/],
      ["'1'", '{"source": 7}', /header "source" must be a string/],
      [
        "'1'",
        '{"source": "a", "Event-Id": "x"}',
        /header "Event-Id" must be a string and not one the relay sets/,
      ],
    ]
    for (const [key, headers, error] of refused) {
      const result = await enqueue(key, headers)
      assert.notEqual(result.code, 0, `key ${key}, headers ${headers} were accepted`)
      assert.match(result.stderr, error)
    }
    assert.equal(
      (await queryRows(db.url, 'select 1 from postbox.outbox where topic = $1', [topic])).length,
      0,
    )
    for (const headers of ['{}', '{"source": "billing"}']) {
      const result = await enqueue("'1'", headers)
      assert.equal(result.code, 0, result.stderr)
    }
    const rows = await queryRows<{ headers: unknown }>(
      db.url,
      'select headers from postbox.outbox where topic = $1 order by id',
      [topic],
    )
    assert.deepEqual(rows, [{ headers: {} }, { headers: { source: 'billing' } }])
  })

  test('postbox migrate --config registers the event types of its catalog, so SQL can enqueue before any relay ran', async () => {
    const topic = uniqueName('sql.migrate')
    const migrated = await runPostbox(['--config', 'test/cli/fixtures/orders.config.ts', 'migrate'], {
      databaseUrl: db.url,
      env: { PBTEST_TOPIC: topic },
    })
    assert.equal(migrated.code, 0, migrated.stderr)
    assert.match(migrated.stdout, /registered 1 event type\(s\) for postbox\.enqueue\(\)/)
    const eventType = orderEvent(topic).type
    const result = await psql(db.url, `select postbox.enqueue('${eventType}', '3', '{"id": 3}')`)
    assert.equal(result.code, 0, result.stderr)
    const rows = await queryRows<{ topic: string }>(
      db.url,
      'select topic from postbox.outbox where event_type = $1',
      [eventType],
    )
    assert.deepEqual(rows, [{ topic }])
  })

  test('a payload the mapping cannot publish is parked by the relay with its error; later keys flow', async () => {
    const topic = uniqueName('sql.invalid')
    const OrderChanged = orderEvent(topic)
    const relay = await startRelay(db.url, [OrderChanged])
    try {
      // total_cents as text does not fit the schema's long: enqueue from SQL cannot know.
      const bad = JSON.stringify({ id: 1, customer: 'ada', total_cents: 'lots', status: 'new' })
      const good = JSON.stringify({ id: 2, customer: 'bob', total_cents: 200, status: 'new' })
      const result = await psql(
        db.url,
        `select postbox.enqueue('${OrderChanged.type}', '1', '${bad}'); select postbox.enqueue('${OrderChanged.type}', '2', '${good}')`,
      )
      assert.equal(result.code, 0, result.stderr)
      const parked = await waitFor('parked row', async () => {
        const rows = await queryRows<{ status: string; last_error: string | null }>(
          db.url,
          "select status, last_error from postbox.outbox where topic = $1 and key = '1'",
          [topic],
        )
        return rows[0]?.status === 'parked' ? rows[0] : undefined
      })
      assert.match(parked.last_error ?? '', /does not match schema .* at totalCents/)
      const published = await waitFor('the valid record', async () => {
        const r = await readTopic(topic)
        return r.length === 1 ? r : undefined
      })
      assert.equal(published[0]?.key, '2')
    } finally {
      await relay.stop()
    }
  })
})
