import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { knownMigrations } from '../../src/db/migrate.js'
import { ConfigError, MigrationError } from '../../src/index.js'
import { migrate } from '../../src/relay-api.js'
import { createTestDatabase, queryRows } from '../support/stack.js'

describe('migrate', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>
  before(async () => {
    db = await createTestDatabase('pbmigrate')
  })
  after(async () => db.drop())

  test('creates the outbox, lease and relay tables in its own schema and records itself in postbox_migrations', async () => {
    const result = await migrate(db.url, 'postbox')
    assert.deepEqual(result.applied, [
      '0001_outbox.sql',
      '0002_shard_progress.sql',
      '0003_parked_key_hash.sql',
      '0004_id_cache.sql',
      '0005_sql_enqueue.sql',
      '0006_sent_count.sql',
      '0007_enqueue_headers_fast_path.sql',
    ])
    const tables = await queryRows<{ table_name: string }>(
      db.url,
      "select table_name from information_schema.tables where table_schema = 'postbox' order by table_name",
    )
    assert.deepEqual(
      tables.map((t) => t.table_name),
      [
        'event_type',
        'inflight_batch',
        'outbox',
        'postbox_migrations',
        'postbox_migrations_lock',
        'relay',
        'sent_count',
        'shard_lease',
      ],
    )
    const knexDefault = await queryRows(
      db.url,
      "select 1 from information_schema.tables where table_name = 'knex_migrations'",
    )
    assert.equal(knexDefault.length, 0, "the application's own knex_migrations table is never touched")
    const shards = await queryRows<{ n: number }>(
      db.url,
      'select count(*)::int as n from postbox.shard_lease',
    )
    assert.equal(shards[0]?.n, 16)
  })

  test('running it again is a no-op', async () => {
    const again = await migrate(db.url, 'postbox')
    assert.deepEqual(again.applied, [])
    assert.deepEqual(again.alreadyApplied, knownMigrations())
  })

  test('three concurrent migrations of a fresh schema all succeed and apply it exactly once', async () => {
    const results = await Promise.all([
      migrate(db.url, 'conc'),
      migrate(db.url, 'conc'),
      migrate(db.url, 'conc'),
    ])
    assert.equal(results.filter((r) => r.applied.length > 0).length, 1, 'one migrator did the work')
    const rows = await queryRows<{ n: number }>(
      db.url,
      'select count(*)::int as n from conc.postbox_migrations',
    )
    assert.equal(rows[0]?.n, knownMigrations().length)
  })

  test('a partial index covers pending rows only', async () => {
    const rows = await queryRows<{ indexdef: string }>(
      db.url,
      "select indexdef from pg_indexes where schemaname = 'postbox' and indexname = 'outbox_pending_idx'",
    )
    assert.match(rows[0]?.indexdef ?? '', /WHERE \(status = 'pending'::text\)/)
  })

  test('a database migrated by a newer Postbox is refused with a clear error', async () => {
    await migrate(db.url, 'newer')
    await queryRows(
      db.url,
      "insert into newer.postbox_migrations (name, batch, migration_time) values ('9999_future.sql', 2, now())",
    )
    await assert.rejects(migrate(db.url, 'newer'), (error: unknown) => {
      assert.ok(error instanceof MigrationError)
      assert.match(error.message, /newer Postbox.*9999_future\.sql.*upgrade Postbox/)
      return true
    })
  })

  test('an unsafe schema name is refused before any SQL runs', async () => {
    await assert.rejects(migrate(db.url, 'x; drop table y'), ConfigError)
  })
})
