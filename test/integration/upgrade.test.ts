import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, test } from 'node:test'
import knexFactory, { type Knex } from 'knex'
import { knownMigrations } from '../../src/db/migrate.js'
import { runPostbox } from '../support/cli.js'
import { orderEvent, orderRow } from '../support/events.js'
import { outboxFor, startRelay, versionsByKey } from '../support/relay.js'
import { createTestDatabase, queryRows, uniqueName, waitFor } from '../support/stack.js'

// Version 0.1 shipped migrations 0001 and 0002; the later ones changed the claim path (the
// parked-key index, the identity cache) and added SQL enqueue and sent_count. A database of 0.1
// with rows in every state is upgraded by `postbox migrate` while no relay runs, then drained.
const SHIPPED_IN_0_1 = ['0001_outbox.sql', '0002_shard_progress.sql']

let db: Awaited<ReturnType<typeof createTestDatabase>>
let knex: Knex
before(async () => {
  db = await createTestDatabase('pbupgrade')
  knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 2 } })
  // What 0.1's migrate left: its two migrations applied and recorded by knex in postbox's table.
  await knex.raw('create schema postbox')
  await knex.migrate.latest({
    tableName: 'postbox_migrations',
    schemaName: 'postbox',
    migrationSource: {
      getMigrations: async () => SHIPPED_IN_0_1,
      getMigrationName: (name: string) => name,
      getMigration: async (name: string) => ({
        up: (k: Knex) =>
          k.raw(
            readFileSync(new URL(`../../migrations/${name}`, import.meta.url), 'utf8').replaceAll(
              '{{schema}}',
              '"postbox"',
            ),
          ),
        down: async () => {},
      }),
    },
  })
})
after(async () => {
  await knex.destroy()
  await db.drop()
})

interface StoredRow {
  id: string
  key: string
  status: string
  payload: unknown
  attempts: number
  last_error: string | null
  sent: boolean
  resolved_by: string | null
}

const storedRows = (topic: string) =>
  queryRows<StoredRow>(
    db.url,
    `select id::text, key, status, payload, attempts, last_error, sent_at is not null as sent, resolved_by
     from postbox.outbox o where topic = $1 order by o.id`,
    [topic],
  )

test('a 0.1 database with sent, pending, parked and skipped rows upgrades with the relay stopped: nothing lost, nothing sent again, parked keys still wait', async () => {
  const topic = uniqueName('upgrade.orders')
  const Event = orderEvent(topic)
  const outbox = outboxFor([Event])
  // Key 1: two rows sent before the upgrade, one pending. Key 2: its first row parked, two behind
  // it. Key 3: its first row skipped by an operator, one pending. Key 4: a row and a tombstone.
  for (let version = 1; version <= 3; version++) {
    await knex.transaction(async (trx) => {
      for (const id of [1, 2]) await outbox.enqueue(trx, Event, orderRow(id, version))
      if (version <= 2) await outbox.enqueue(trx, Event, orderRow(3, version))
      if (version === 1) await outbox.enqueue(trx, Event, orderRow(4, version))
    })
  }
  await knex.transaction((trx) => outbox.tombstone(trx, Event, '4'))
  const ids = async (key: string) => (await storedRows(topic)).filter((r) => r.key === key).map((r) => r.id)
  const [key1, [parkedId, ...behindParked], [skippedId]] = [await ids('1'), await ids('2'), await ids('3')]
  assert.ok(parkedId !== undefined && skippedId !== undefined && behindParked.length === 2)
  await knex.raw(`update postbox.outbox set status = 'sent', sent_at = now() where id = any(?::bigint[])`, [
    key1.slice(0, 2),
  ])
  await knex.raw(
    `update postbox.outbox set status = 'parked', parked_at = now(), attempts = 1, last_error = 'broker said no'
     where id = ?::bigint`,
    [parkedId],
  )
  await knex.raw(`update postbox.outbox set status = 'skipped', resolved_by = 'ops' where id = ?::bigint`, [
    skippedId,
  ])
  const before = await storedRows(topic)
  assert.deepEqual(
    before.map((r) => `${r.key}:${r.status}`),
    [
      '1:sent',
      '2:parked',
      '3:skipped',
      '4:pending',
      '1:sent',
      '2:pending',
      '3:pending',
      '1:pending',
      '2:pending',
      '4:pending',
    ],
  )

  const migrated = await runPostbox(['migrate'], { databaseUrl: db.url })
  assert.equal(migrated.code, 0, migrated.stderr)
  // Every migration after 0.1's, in order.
  const later = knownMigrations().filter((name) => !SHIPPED_IN_0_1.includes(name))
  assert.deepEqual(later.slice(0, 2), ['0003_parked_key_hash.sql', '0004_id_cache.sql'])
  assert.deepEqual(migrated.stdout.trim().split('\n'), [
    ...later.map((name) => `applied ${name}`),
    'schema postbox migrated',
  ])
  assert.deepEqual(await storedRows(topic), before, 'the migration changed no row')

  const relay = await startRelay(db.url, [Event])
  try {
    // Everything publishable goes; key 2 waits behind its parked row.
    await waitFor('the pending rows of keys 1, 3 and 4 published', async () => {
      const rows = await storedRows(topic)
      return rows.filter((r) => r.status === 'pending').every((r) => r.key === '2') ? true : undefined
    })
    const retried = await runPostbox(['parked', 'retry', parkedId, '--json'], { databaseUrl: db.url })
    assert.equal(retried.code, 0, retried.stderr)
    assert.deepEqual(JSON.parse(retried.stdout).retried, [parkedId])
    await waitFor('key 2 published after its retry', async () => {
      const rows = await storedRows(topic)
      return rows.every((r) => r.status === 'sent' || r.status === 'skipped') ? true : undefined
    })
  } finally {
    await relay.stop()
  }

  const after = await storedRows(topic)
  assert.deepEqual(
    after.map((r) => `${r.key}:${r.status}`),
    ['1:sent', '2:sent', '3:skipped', '4:sent', '1:sent', '2:sent', '3:sent', '1:sent', '2:sent', '4:sent'],
  )
  assert.deepEqual(
    after.map((r) => r.payload),
    before.map((r) => r.payload),
  )
  const skipped = after.find((r) => r.status === 'skipped')
  assert.equal(skipped?.resolved_by, 'ops')
  const retriedRow = after.find((r) => r.id === parkedId)
  assert.equal(retriedRow?.last_error, 'broker said no', 'the retried row keeps the error it was parked with')

  // In Kafka: only what was pending or parked, each key in order; the rows sent before the upgrade
  // and the skipped row are not there.
  assert.deepEqual(await versionsByKey(topic), { '1': [3], '2': [1, 2, 3], '3': [2], '4': [1, null] })
})
