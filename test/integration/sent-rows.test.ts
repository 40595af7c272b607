import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import knexFactory, { type Knex } from 'knex'
import { ConfigError, MigrationError } from '../../src/index.js'
import { resolveConfig } from '../../src/relay-api.js'
import { runPostbox } from '../support/cli.js'
import { orderEvent, orderRow } from '../support/events.js'
import { lastCommittedProgressToken } from '../support/progress.js'
import {
  outboxFor,
  readTopic,
  relaySettings,
  startFailure,
  startRelay,
  versionsByKey,
} from '../support/relay.js'
import { createMigratedDatabase, queryRows, uniqueName, waitFor } from '../support/stack.js'

let db: Awaited<ReturnType<typeof createMigratedDatabase>>
let knex: Knex
before(async () => {
  db = await createMigratedDatabase('pbsentrows')
  knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 2 } })
})
after(async () => {
  await knex.destroy()
  await db.drop()
})

const rowsOf = (topic: string) =>
  queryRows<{ key: string; status: string }>(
    db.url,
    'select key, status from postbox.outbox where topic = $1 order by id',
    [topic],
  )

test("sentRows 'delete': published rows leave the outbox, in key order in Kafka; a parked row and the rows behind it stay", async () => {
  const topic = uniqueName('sentrows.delete')
  const Event = orderEvent(topic)
  const outbox = outboxFor([Event])
  await knex.transaction(async (trx) => {
    for (let version = 1; version <= 4; version++) {
      for (const id of [1, 2, 3]) await outbox.enqueue(trx, Event, orderRow(id, version))
    }
    await outbox.tombstone(trx, Event, '2')
  })
  // Key 9: a row the schema rejects (customer must be a string), then a good one behind it.
  await queryRows(
    db.url,
    `insert into postbox.outbox (event_id, event_type, topic, key, payload)
     values (gen_random_uuid(), $1, $2, '9', '{"id": 9, "customer": 42, "total_cents": 1, "status": "s"}')`,
    [Event.type, topic],
  )
  await knex.transaction((trx) => outbox.enqueue(trx, Event, orderRow(9, 2)))

  const relay = await startRelay(db.url, [Event], { sentRows: 'delete' })
  try {
    const left = await waitFor('only key 9 left', async () => {
      const rows = await rowsOf(topic)
      return rows.length === 2 && rows[0]?.status === 'parked' ? rows : undefined
    })
    assert.deepEqual(left, [
      { key: '9', status: 'parked' },
      { key: '9', status: 'pending' },
    ])
  } finally {
    await relay.stop()
  }
  // The deleted rows are still counted as sent in the last minute.
  const status = await runPostbox(['status', '--json'], { databaseUrl: db.url })
  assert.equal(status.code, 0, status.stderr)
  const report = JSON.parse(status.stdout) as {
    topics: { topic: string; pending: number; parked: number; sentLastMinute: number }[]
  }
  const counts = report.topics.find((t) => t.topic === topic)
  assert.deepEqual(
    counts && { pending: counts.pending, parked: counts.parked, sentLastMinute: counts.sentLastMinute },
    { pending: 1, parked: 1, sentLastMinute: 13 },
  )
  assert.deepEqual(await versionsByKey(topic), {
    '1': [1, 2, 3, 4],
    '2': [1, 2, 3, 4, null],
    '3': [1, 2, 3, 4],
  })
})

test("sentRows 'delete', exactly-once: a relay taking a shard over deletes the last committed batch instead of publishing it again", async () => {
  const topic = uniqueName('sentrows.eos')
  const Event = orderEvent(topic)
  const outbox = outboxFor([Event])
  const settings = { delivery: 'exactly-once', leaseTtlMs: 2000, sentRows: 'delete' } as const
  const first = await startRelay(db.url, [Event], settings)
  await knex.transaction((trx) => outbox.enqueue(trx, Event, orderRow(1)))
  await waitFor('published and deleted', async () =>
    (await readTopic(topic)).length === 1 && (await rowsOf(topic)).length === 0 ? true : undefined,
  )
  await first.stop()
  // As if the first relay had died between Kafka's commit and the delete: the row is back,
  // pending, recorded under the shard's last committed progress token.
  const [row] = await queryRows<{ id: string; shard: number }>(
    db.url,
    `insert into postbox.outbox (event_id, event_type, topic, key, payload)
     values (gen_random_uuid(), $1, $2, '1', '{"id": 1, "customer": "c", "total_cents": 1, "status": "s"}')
     returning id::text, shard`,
    [Event.type, topic],
  )
  assert.ok(row)
  const token = await lastCommittedProgressToken(db.url, row.shard)
  await queryRows(
    db.url,
    `insert into postbox.inflight_batch (token, shard, ids, relay) values ($1, $2, $3, 'gone')`,
    [token, row.shard, [row.id]],
  )
  const second = await startRelay(db.url, [Event], settings)
  try {
    await waitFor('deleted by the takeover', async () =>
      (await rowsOf(topic)).length === 0 ? true : undefined,
    )
    assert.equal((await readTopic(topic)).length, 1, 'not published a second time')
  } finally {
    await second.stop()
  }
})

test("before migration 0006: a sentRows 'delete' relay refuses to start, and status still answers and names the migration", async () => {
  const old = await createMigratedDatabase('pbsentrowsold')
  try {
    await queryRows(
      old.url,
      "drop table postbox.sent_count; delete from postbox.postbox_migrations where name = '0006_sent_count.sql'",
    )
    const Event = orderEvent(uniqueName('sentrows.old'))
    const failure = await startFailure(relaySettings(old.url, [Event], { sentRows: 'delete' }))
    assert.ok(failure instanceof MigrationError, String(failure))
    assert.match(
      failure.message,
      /no sent_count table \(migration 0006_sent_count\.sql\).*run postbox migrate/,
    )
    await queryRows(
      old.url,
      `insert into postbox.outbox (event_id, event_type, topic, key, payload)
       values (gen_random_uuid(), $1, $2, '1', '{}')`,
      [Event.type, Event.topic],
    )
    const status = await runPostbox(['status', '--json'], { databaseUrl: old.url })
    assert.equal(status.code, 0, status.stderr)
    const report = JSON.parse(status.stdout) as {
      topics: { topic: string; pending: number }[]
      pendingMigrations: string[]
    }
    assert.deepEqual(
      report.topics.map((t) => [t.topic, t.pending]),
      [[Event.topic, 1]],
    )
    assert.deepEqual(report.pendingMigrations, ['0006_sent_count.sql'])
  } finally {
    await old.drop()
  }
})

test("sentRows 'delete' with a retention setting, or an unknown sentRows, is refused before the relay starts", () => {
  const Event = orderEvent(uniqueName('sentrows.bad'))
  assert.throws(
    () =>
      resolveConfig(
        relaySettings(db.url, [Event], { sentRows: 'delete', retention: { sentOlderThan: '7d' } }),
      ),
    (error: unknown) =>
      error instanceof ConfigError && /relay\.retention has no sent rows to delete/.test(error.message),
  )
  assert.throws(
    () => resolveConfig(relaySettings(db.url, [Event], { sentRows: 'drop' as unknown as 'delete' })),
    (error: unknown) =>
      error instanceof ConfigError && /sentRows/.test(error.message) && /keep/.test(error.message),
  )
})
