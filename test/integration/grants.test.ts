import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { runPostbox } from '../support/cli.js'
import { orderEvent, orderRow } from '../support/events.js'
import { outboxFor, readTopic, startRelay } from '../support/relay.js'
import {
  asRole,
  createTestDatabase,
  dropRoles,
  queryRows,
  stack,
  uniqueGrantRoles,
  uniqueName,
  waitFor,
} from '../support/stack.js'
import { inTransaction } from '../support/transaction.js'

const CONFIG = 'test/cli/fixtures/orders.config.ts'

describe('postbox grants: an owner, an enqueue-only application role and a relay role', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>
  let appPool: pg.Pool
  const { roles, options: roleOptions } = uniqueGrantRoles('pbgrants')
  const topic = uniqueName('grants.orders')
  const OrderChanged = orderEvent(topic)
  const outbox = outboxFor([OrderChanged])

  const cli = (role: string | null, ...args: string[]) =>
    runPostbox(['--config', CONFIG, ...args], {
      databaseUrl: role === null ? db.url : asRole(db.url, role),
      env: { PBTEST_TOPIC: topic },
      timeoutMs: 120_000,
    })
  const asAdmin = <T>(text: string, values: unknown[] = []) => queryRows<T>(db.url, text, values)
  const asApp = <T>(text: string, values: unknown[] = []) =>
    queryRows<T>(asRole(db.url, roles.app), text, values)
  const asRelay = <T>(text: string, values: unknown[] = []) =>
    queryRows<T>(asRole(db.url, roles.relay), text, values)
  const statuses = async () =>
    (await asAdmin<{ status: string }>('select status from postbox.outbox order by id')).map((r) => r.status)

  before(async () => {
    db = await createTestDatabase('pbgrants')
    const first = await cli(null, 'grants', '--apply', '--login', ...roleOptions)
    assert.equal(first.code, 0, first.stderr)
    assert.match(first.stdout, /schema postbox is not migrated yet: run `postbox migrate` as pbgrants_/)
    const migrated = await cli(roles.owner, 'migrate')
    assert.equal(migrated.code, 0, migrated.stderr)
    const second = await cli(null, 'grants', '--apply', ...roleOptions)
    assert.equal(second.code, 0, second.stderr)
    // The application's own table, which it reads and writes; backfill reads it too.
    await asAdmin(
      `create table public.orders (
         id integer primary key, customer text not null, total_cents integer not null,
         status text not null, version integer not null)`,
    )
    await asAdmin(`grant select, insert, update on public.orders to "${roles.app}"`)
    appPool = new pg.Pool({ connectionString: asRole(db.url, roles.app), max: 2 })
  })

  after(async () => {
    try {
      await appPool?.end()
      await db?.drop()
    } finally {
      await dropRoles(stack.databaseUrl, Object.values(roles))
    }
  })

  test('without --apply it prints the SQL with the role names and schema quoted, and needs no database', async () => {
    const result = await runPostbox(['grants', '--app', 'orders_service'], { databaseUrl: '' })
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /^begin;$/m)
    assert.match(
      result.stdout,
      /^grant insert \(event_id, event_type, topic, key, payload, headers\) on "postbox"\.outbox to "orders_service";$/m,
    )
    assert.match(result.stdout, /^grant select \(id\) on "postbox"\.outbox to "orders_service";$/m)
    assert.match(result.stdout, /^alter schema "postbox" owner to "postbox_owner";$/m)
    assert.match(result.stdout, /^commit;$/m)
  })

  test('a role name that is not a plain lower-case identifier is a usage error with exit 2', async () => {
    const result = await runPostbox(['grants', '--relay', 'relay"; drop table x; --'], { databaseUrl: '' })
    assert.equal(result.code, 2)
    assert.match(result.stderr, /role name .* is not allowed/)
  })

  test('the owner role owns the schema and every table and sequence in it', async () => {
    const owners = await asAdmin<{ name: string; owner: string }>(
      `select nspname as name, pg_get_userbyid(nspowner) as owner from pg_namespace where nspname = 'postbox'
       union all
       select relname, pg_get_userbyid(relowner) from pg_class
       where relnamespace = 'postbox'::regnamespace and relkind in ('r', 'S')`,
    )
    assert.ok(owners.length >= 9, JSON.stringify(owners))
    for (const o of owners) assert.equal(o.owner, roles.owner, o.name)
  })

  test('the application role enqueues inside its own transaction and gets the new ids back', async () => {
    const written = await inTransaction(appPool, async (client) => {
      await client.query(
        'insert into public.orders (id, customer, total_cents, status, version) values ($1, $2, $3, $4, $5)',
        [1, 'customer-1', 100, 'new', 1],
      )
      return outbox.enqueueMany(client, OrderChanged, [orderRow(1), orderRow(2)])
    })
    assert.equal(written.length, 2)
    const rows = await asAdmin<{ id: string; status: string; key: string }>(
      'select id::text, status, key from postbox.outbox order by id',
    )
    assert.deepEqual(
      rows.map((r) => [r.id, r.status, r.key]),
      written.map((w, i) => [w.id, 'pending', String(i + 1)]),
    )
  })

  test('the application role gets permission denied reading, changing, deleting, locking or forging outbox rows', async () => {
    const denied = [
      'select * from postbox.outbox',
      'select payload from postbox.outbox',
      "select id from postbox.outbox where status = 'pending'",
      'select id from postbox.outbox for update',
      "update postbox.outbox set status = 'sent'",
      'delete from postbox.outbox',
      `insert into postbox.outbox (event_id, event_type, topic, key, payload, status)
       values (gen_random_uuid(), 'x', 'x', 'x', '{}', 'sent')`,
      `insert into postbox.outbox (event_id, event_type, topic, key, payload, txid)
       values (gen_random_uuid(), 'x', 'x', 'x', '{}', '1')`,
      'select * from postbox.shard_lease',
      "update postbox.shard_lease set owner = 'me'",
      'select * from postbox.relay',
      'select * from postbox.inflight_batch',
      "select pg_sequence_last_value('postbox.outbox_id_seq')",
    ]
    for (const sql of denied) await assert.rejects(asApp(sql), /permission denied/, sql)
    assert.deepEqual(await statuses(), ['pending', 'pending'])
  })

  test('the application role enqueues from SQL with postbox.enqueue(), for the event types migrate registered', async () => {
    const client = await appPool.connect()
    try {
      await client.query('begin')
      const { rows } = await client.query<{ id: string }>("select postbox.enqueue($1, '9', '{}') as id", [
        OrderChanged.type,
      ])
      assert.match(rows[0]?.id ?? '', /^\d+$/)
    } finally {
      await client.query('rollback')
      client.release()
    }
  })

  test('the application role can read the ids of outbox rows, which insert … returning id needs', async () => {
    const ids = await asApp<{ id: string }>('select id::text from postbox.outbox order by id')
    assert.equal(ids.length, 2)
  })

  test('a relay under the relay role publishes what the application role enqueued and marks it sent', async () => {
    const run = await cli(roles.relay, 'relay', '--until-drained')
    assert.equal(run.code, 0, run.stderr)
    const records = await waitFor('two published events', async () => {
      const all = await readTopic(topic)
      return all.length >= 2 ? all : undefined
    })
    assert.deepEqual(
      records.map((r) => r.value).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      [
        { orderId: '1', customer: 'customer-1', totalCents: 100, version: 1 },
        { orderId: '2', customer: 'customer-2', totalCents: 200, version: 1 },
      ],
    )
    assert.deepEqual(await statuses(), ['sent', 'sent'])
  })

  test('the relay role cannot change what an event says', async () => {
    for (const sql of [
      "update postbox.outbox set payload = '{}'",
      "update postbox.outbox set topic = 'elsewhere'",
      "update postbox.outbox set key = 'other'",
      'update postbox.outbox set txid = pg_current_xact_id()',
      'truncate postbox.outbox',
    ])
      await assert.rejects(asRelay(sql), /permission denied/, sql)
  })

  test('status, parked list|retry|skip, replay and purge work under the relay role', async () => {
    // A row the event's schema rejects (customer must be a string): the relay parks it.
    const [bad] = await asApp<{ id: string }>(
      `insert into postbox.outbox (event_id, event_type, topic, key, payload)
       values (gen_random_uuid(), $1, $2, '3', $3) returning id::text`,
      [OrderChanged.type, topic, JSON.stringify({ ...orderRow(3), customer: 42 })],
    )
    const badId = bad?.id ?? ''
    const parks = await cli(roles.relay, 'relay', '--until-drained')
    assert.equal(parks.code, 0, parks.stderr)

    const status = await cli(roles.relay, 'status', '--json')
    assert.equal(status.code, 0, status.stderr)
    const report = JSON.parse(status.stdout) as { topics: { topic: string; parked: number }[] }
    assert.deepEqual(
      report.topics.map((t) => [t.topic, t.parked]),
      [[topic, 1]],
    )

    const list = await cli(roles.relay, 'parked', 'list', '--json')
    assert.equal(list.code, 0, list.stderr)
    assert.deepEqual(
      (JSON.parse(list.stdout) as { rows: { id: string }[] }).rows.map((r) => r.id),
      [badId],
    )
    const retry = await cli(roles.relay, 'parked', 'retry', badId)
    assert.equal(retry.code, 0, retry.stderr)
    assert.deepEqual(await statuses(), ['sent', 'sent', 'pending'])
    const parksAgain = await cli(roles.relay, 'relay', '--until-drained')
    assert.equal(parksAgain.code, 0, parksAgain.stderr)
    const skip = await cli(roles.relay, 'parked', 'skip', badId, '--reason', 'bad data', '--yes')
    assert.equal(skip.code, 0, skip.stderr)
    assert.deepEqual(await statuses(), ['sent', 'sent', 'skipped'])

    const replay = await cli(roles.relay, 'replay', '--topic', topic, '--key', '1', '--yes')
    assert.equal(replay.code, 0, replay.stderr)
    assert.match(replay.stdout, /^queued 1 row\(s\) for publishing again/)
    const republish = await cli(roles.relay, 'relay', '--until-drained')
    assert.equal(republish.code, 0, republish.stderr)
    const records = await waitFor('the replayed event', async () => {
      const all = await readTopic(topic)
      return all.length >= 3 ? all : undefined
    })
    assert.deepEqual(
      records.filter((r) => r.key === '1').map((r) => r.headers['replay-of'] !== undefined),
      [false, true],
    )

    const purge = await cli(roles.relay, 'purge', '--sent', '--skipped', '--yes', '--json')
    assert.equal(purge.code, 0, purge.stderr)
    assert.equal((JSON.parse(purge.stdout) as { deleted: number }).deleted, 4)
    assert.deepEqual(await statuses(), [])
  })

  test('backfill runs as the application role, which reads its own table and may enqueue', async () => {
    const result = await cli(roles.app, 'backfill', '--event-type', OrderChanged.type, '--yes')
    assert.equal(result.code, 0, result.stderr)
    const rows = await asAdmin<{ key: string; status: string }>('select key, status from postbox.outbox')
    assert.deepEqual(rows, [{ key: '1', status: 'pending' }])
  })

  test('a re-run takes back privileges granted outside it', async () => {
    await asAdmin(`grant select, update on postbox.outbox to "${roles.app}"`)
    assert.equal((await asApp<{ key: string }>('select key from postbox.outbox')).length, 1)
    const rerun = await cli(null, 'grants', '--apply', ...roleOptions)
    assert.equal(rerun.code, 0, rerun.stderr)
    await assert.rejects(asApp('select key from postbox.outbox'), /permission denied/)
    await assert.rejects(asApp("update postbox.outbox set status = 'sent'"), /permission denied/)
  })

  test('an exactly-once relay under the relay role records and clears its in-flight batches', async () => {
    const eosTopic = uniqueName('grants.eos')
    const EosEvent = orderEvent(eosTopic)
    await inTransaction(appPool, (client) =>
      outboxFor([EosEvent]).enqueueMany(client, EosEvent, [orderRow(7), orderRow(8), orderRow(7, 2)]),
    )
    const relay = await startRelay(asRole(db.url, roles.relay), [OrderChanged, EosEvent], {
      delivery: 'exactly-once',
    })
    try {
      const records = await waitFor('three records', async () => {
        const all = await readTopic(eosTopic)
        return all.length >= 3 ? all : undefined
      })
      assert.deepEqual(
        records.filter((r) => r.key === '7').map((r) => (r.value as { version: number }).version),
        [1, 2],
      )
      await waitFor('every row sent and no batch left in flight', async () => {
        const [row] = await asAdmin<{ pending: number; inflight: number }>(
          `select (select count(*)::int from postbox.outbox where status <> 'sent') as pending,
                  (select count(*)::int from postbox.inflight_batch) as inflight`,
        )
        return row?.pending === 0 && row.inflight === 0 ? true : undefined
      })
    } finally {
      await relay.stop()
    }
  })

  test("a relay under the relay role with sentRows 'delete' deletes what it published and counts it for status", async () => {
    const deleteTopic = uniqueName('grants.delete')
    const DeleteEvent = orderEvent(deleteTopic)
    await inTransaction(appPool, (client) =>
      outboxFor([DeleteEvent]).enqueueMany(client, DeleteEvent, [orderRow(5), orderRow(6)]),
    )
    const relay = await startRelay(asRole(db.url, roles.relay), [OrderChanged, DeleteEvent], {
      sentRows: 'delete',
    })
    try {
      await waitFor('both rows published and deleted', async () => {
        const [row] = await asAdmin<{ left: number; counted: number }>(
          `select (select count(*)::int from postbox.outbox where topic = $1) as left,
                  (select coalesce(sum(rows), 0)::int from postbox.sent_count where topic = $1) as counted`,
          [deleteTopic],
        )
        return row?.left === 0 && row.counted === 2 ? true : undefined
      })
      assert.equal((await readTopic(deleteTopic)).length, 2)
    } finally {
      await relay.stop()
    }
  })

  test('the owner role can re-run grants itself after a migration, without an administrator', async () => {
    const rerun = await cli(roles.owner, 'grants', '--apply', ...roleOptions)
    assert.equal(rerun.code, 0, rerun.stderr)
    assert.match(rerun.stdout, new RegExp(`${roles.app} may add outbox rows \\(enqueue\\) and nothing else`))
  })
})
