import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { outboxQueries } from '../../src/db/outbox-queries.js'
import { type Database, openDatabase } from '../../src/db/pool.js'
import { statusQueries } from '../../src/db/status-queries.js'
import { createMigratedDatabase, queryRows, uniqueName } from '../support/stack.js'

describe('outbox rules', () => {
  let own: Awaited<ReturnType<typeof createMigratedDatabase>>
  let db: Database
  const outbox = outboxQueries('postbox')
  const status = statusQueries('postbox')

  before(async () => {
    own = await createMigratedDatabase('pbrules')
    db = openDatabase(own.url, 'postbox rules test', 2)
  })
  after(async () => {
    await db.close()
    await own.drop()
  })

  const insertRow = async (topic: string, key: string, rowStatus = 'pending') => {
    const [row] = await queryRows<{ id: string; shard: number }>(
      own.url,
      `insert into postbox.outbox (event_id, event_type, topic, key, payload, status)
       values (gen_random_uuid(), 'order.changed', $1, $2, '{}', $3) returning id::text, shard`,
      [topic, key, rowStatus],
    )
    assert.ok(row)
    return row
  }
  const statusOf = async (id: string) =>
    (await queryRows<{ status: string }>(own.url, 'select status from postbox.outbox where id = $1', [id]))[0]
      ?.status

  test('parkRow parks a pending row only for the relay that holds its shard at that epoch', async () => {
    const row = await insertRow(uniqueName('rules.park'), 'k')
    await queryRows(
      own.url,
      "update postbox.shard_lease set owner = 'relay-b', epoch = 5, expires_at = now() + interval '1 hour' where shard = $1",
      [row.shard],
    )
    const stale = [{ shard: row.shard, epoch: '4' }]
    const current = [{ shard: row.shard, epoch: '5' }]

    assert.equal(await outbox.parkRow(db, row.id, 'refused', stale, 'relay-b'), false, 'an older epoch')
    assert.equal(await outbox.parkRow(db, row.id, 'refused', current, 'relay-a'), false, 'another relay')
    assert.equal(await statusOf(row.id), 'pending')

    assert.equal(await outbox.parkRow(db, row.id, 'refused', current, 'relay-b'), true)
    const [parked] = await queryRows<{ status: string; attempts: number; last_error: string }>(
      own.url,
      'select status, attempts, last_error from postbox.outbox where id = $1',
      [row.id],
    )
    assert.deepEqual(parked, { status: 'parked', attempts: 1, last_error: 'refused' })
    assert.equal(await outbox.parkRow(db, row.id, 'again', current, 'relay-b'), false, 'no longer pending')
  })

  test('the drain check counts pending rows but not those behind a parked row of the same topic and key', async () => {
    const topic = uniqueName('rules.drain')
    const before = await status.publishableCount(db)
    await insertRow(topic, 'a', 'parked')
    await insertRow(topic, 'a')
    await insertRow(topic, 'b')
    await insertRow(uniqueName('rules.drain.other'), 'a')
    assert.equal(await status.publishableCount(db), before + 2)
  })

  test('the claim skips a row behind a parked row of its topic and key and takes the rest', async () => {
    const topic = uniqueName('rules.claim')
    await insertRow(topic, 'a', 'parked')
    const behind = await insertRow(topic, 'a')
    const free = await insertRow(topic, 'b')
    const other = await insertRow(uniqueName('rules.claim.other'), 'a')
    const shards = [...new Set([behind.shard, free.shard, other.shard])]
    const claimed = (await outbox.claimPendingBatch(db, shards, 10_000)).map((r) => r.id)
    assert.ok(!claimed.includes(behind.id), 'the row behind the parked one waits')
    assert.ok(claimed.includes(free.id), 'another key of the topic is claimed')
    assert.ok(claimed.includes(other.id), 'the same key on another topic is claimed')
  })

  test('a committed row behind an older open transaction that writes the outbox is unsettled, and the drain check still waits for it', async () => {
    const open = new pg.Client({ connectionString: own.url })
    await open.connect()
    try {
      // Only a transaction that has added outbox rows holds the horizon (src/db/horizon.ts).
      await open.query('begin')
      await open.query(
        `insert into postbox.outbox (event_id, event_type, topic, key, payload)
         values (gen_random_uuid(), 'order.changed', $1, 'older', '{}')`,
        [uniqueName('rules.older')],
      )
      const before = await status.publishableCount(db)
      const row = await insertRow(uniqueName('rules.unsettled'), 'k')
      const unsettled = await status.unsettled(db)
      assert.ok(unsettled.rows >= 1, `unsettled rows: ${unsettled.rows}`)
      const ofShard = await outbox.unsettledRows(db, [row.shard])
      assert.ok(ofShard.rows >= 1, `unsettled rows of shard ${row.shard}: ${ofShard.rows}`)
      assert.equal(await status.publishableCount(db), before + 1)
      const claimed = await outbox.claimPendingBatch(db, [row.shard], 100)
      assert.ok(!claimed.some((r) => r.id === row.id), 'an unsettled row is not claimed')
    } finally {
      await open.query('rollback')
      await open.end()
    }
  })
})
