import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import knexFactory, { type Knex } from 'knex'
import { ConfigError } from '../../src/index.js'
import { resolveConfig } from '../../src/relay-api.js'
import { orderEvent, orderRow } from '../support/events.js'
import { lastCommittedProgressToken } from '../support/progress.js'
import { outboxFor, readTopic, relaySettings, startRelay } from '../support/relay.js'
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
  const records = await readTopic(topic)
  const byKey = new Map<string, (number | null)[]>()
  for (const r of records) {
    const value = r.value as { version: number } | null
    byKey.set(String(r.key), [...(byKey.get(String(r.key)) ?? []), value === null ? null : value.version])
  }
  assert.deepEqual(Object.fromEntries(byKey), {
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
