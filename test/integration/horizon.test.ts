import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { executorFor } from '../../src/db/executor.js'
import { outboxQueries } from '../../src/db/outbox-queries.js'
import { type Database, openDatabase } from '../../src/db/pool.js'
import { createMigratedDatabase, createTestDatabase } from '../support/stack.js'

const ALL_SHARDS = Array.from({ length: 16 }, (_, i) => i)
const outbox = outboxQueries('postbox')

describe('the claim horizon: only transactions that can still add outbox rows hold it', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let relayDb: Database
  const open: pg.Client[] = []

  before(async () => {
    db = await createMigratedDatabase('pbhorizon')
    relayDb = openDatabase(db.url, 'postbox-relay horizon-test')
    await relayDb.query(
      `create table public.orders (id int primary key, version int not null default 0);
       insert into public.orders select g from generate_series(1, 10) g;
       update postbox.shard_lease set owner = 'horizon-test', epoch = 1, expires_at = now() + interval '1 hour'`,
      [],
    )
  })
  after(async () => {
    for (const c of open) await c.end().catch(() => {})
    await relayDb.close()
    await db.drop()
  })

  async function session(url = db.url): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: url, application_name: 'horizon-test-app' })
    await c.connect()
    open.push(c)
    return c
  }

  /** Inserts one outbox row for `key` on this connection; returns its id. */
  async function enqueue(c: pg.Client, topic: string, key: string, version: number): Promise<string> {
    const [id] = await outbox.insertOutboxRows(
      executorFor(c),
      [
        {
          event_id: randomUUID(),
          event_type: 'order.changed',
          topic,
          key,
          payload: { version },
          headers: {},
        },
      ],
      null,
    )
    assert.ok(id !== undefined)
    return id
  }

  async function committed(topic: string, key: string, version: number): Promise<string> {
    const c = await session()
    await c.query('begin')
    const id = await enqueue(c, topic, key, version)
    await c.query('commit')
    return id
  }

  /** One claim of every shard, restricted to this test's topic (other tests' rows stay pending). */
  async function claimIds(topic: string): Promise<string[]> {
    const rows = await outbox.claimPendingBatch(relayDb, ALL_SHARDS, 1000)
    return rows.filter((r) => r.topic === topic).map((r) => r.id)
  }

  /** Claims and marks until `expected` rows of the topic are sent; returns them in claim order. */
  async function drain(topic: string, expected: number): Promise<{ id: string; key: string }[]> {
    const published: { id: string; key: string }[] = []
    const leases = ALL_SHARDS.map((shard) => ({ shard, epoch: '1' }))
    for (let round = 0; round < 50 && published.length < expected; round++) {
      const rows = (await outbox.claimPendingBatch(relayDb, ALL_SHARDS, 1000)).filter(
        (r) => r.topic === topic,
      )
      await outbox.markSent(
        relayDb,
        rows.map((r) => r.id),
        leases,
        'horizon-test',
      )
      published.push(...rows.map((r) => ({ id: r.id, key: r.key })))
    }
    return published
  }

  const idsOfKey = (published: { id: string; key: string }[], key: string) =>
    published.filter((r) => r.key === key).map((r) => BigInt(r.id))
  const inIdOrder = (ids: bigint[]) => ids.every((id, i) => i === 0 || (ids[i - 1] ?? 0n) < id)

  test('a write transaction left open in another database does not hold back claiming', async () => {
    const other = await createTestDatabase('pbhorizonother')
    const elsewhere = await session(other.url)
    try {
      await elsewhere.query('create table t (x int)')
      await elsewhere.query('begin')
      await elsewhere.query('insert into t values (1)')
      const topic = `h.otherdb.${randomUUID()}`
      const id = await committed(topic, 'k', 1)
      const [row] = await relayDb.query<{ waits: boolean }>(
        'select txid >= pg_snapshot_xmin(pg_current_snapshot()) as waits from postbox.outbox where id = $1',
        [id],
      )
      assert.equal(row?.waits, true, 'the cluster-wide xmin rule would hold this row back')
      assert.deepEqual(await claimIds(topic), [id])
    } finally {
      await elsewhere.query('rollback')
      await elsewhere.end()
      await other.drop()
    }
  })

  test('a transaction that writes only domain tables of this database does not hold back claiming', async () => {
    const domain = await session()
    await domain.query('begin')
    await domain.query('update public.orders set version = version + 1 where id = 1')
    try {
      const topic = `h.domain.${randomUUID()}`
      const id = await committed(topic, 'k', 1)
      assert.deepEqual(await claimIds(topic), [id])
    } finally {
      await domain.query('rollback')
    }
  })

  test("a relay's own open write on the outbox (a mark, a park) does not hold back claiming", async () => {
    const topic = `h.relay.${randomUUID()}`
    const marked = await committed(topic, 'k', 1)
    const otherRelay = new pg.Client({ connectionString: db.url, application_name: 'postbox-relay other' })
    await otherRelay.connect()
    open.push(otherRelay)
    await otherRelay.query('begin')
    await otherRelay.query(`update postbox.outbox set attempts = attempts + 1 where id = $1`, [marked])
    try {
      const later = await committed(topic, 'k2', 1)
      assert.deepEqual(
        (await claimIds(topic)).sort(),
        [marked, later].sort(),
        'both rows are claimable (the other relay has not committed its update)',
      )
    } finally {
      await otherRelay.query('rollback')
    }
  })

  test('an open transaction with outbox rows holds back later transactions, and nothing is lost when it commits', async () => {
    const topic = `h.open.${randomUUID()}`
    const slow = await session()
    await slow.query('begin')
    const first = await enqueue(slow, topic, 'k1', 1)
    const later = [await committed(topic, 'k1', 2), await committed(topic, 'k2', 1)]
    assert.deepEqual(await claimIds(topic), [], 'rows of later transactions wait for the open one')
    const stalled = await outbox.unsettledRows(relayDb, ALL_SHARDS)
    const { rows } = await slow.query<{ pid: number }>('select pg_backend_pid() as pid')
    assert.ok(stalled.rows >= 2, 'the held-back rows are reported as unsettled')
    assert.equal(stalled.holderPid, rows[0]?.pid, 'the open transaction is named')

    await slow.query('commit')
    const published = await drain(topic, 3)
    assert.deepEqual(published.map((r) => r.id).sort(), [first, ...later].sort())
    assert.deepEqual(idsOfKey(published, 'k1'), [BigInt(first), BigInt(later[0] ?? '0')])
  })

  test('a transaction that inserts outbox rows late in its life holds back only from then on', async () => {
    const topic = `h.late.${randomUUID()}`
    const late = await session()
    await late.query('begin')
    await late.query('update public.orders set version = version + 1 where id = 2')
    const before = await committed(topic, 'k', 1)
    assert.deepEqual(
      (await drain(topic, 1)).map((r) => r.id),
      [before],
      'a domain-only writer holds nothing back',
    )

    const own = await enqueue(late, topic, 'k', 2)
    const after = await committed(topic, 'k', 3)
    assert.deepEqual(await claimIds(topic), [], 'once it holds outbox rows, newer transactions wait')
    await late.query('commit')
    const published = await drain(topic, 2)
    assert.deepEqual(
      published.map((r) => r.id),
      [own, after],
    )
  })

  test('U takes its xid first, T inserts id j, U inserts j+1 and commits: nothing is lost', async () => {
    const topic = `h.ut.${randomUUID()}`
    const u = await session()
    const t = await session()
    await u.query('begin')
    await u.query('update public.orders set version = version + 1 where id = 3')
    await t.query('begin')
    await t.query('update public.orders set version = version + 1 where id = 4')
    const j = await enqueue(t, topic, 'a', 1)
    const j1 = await enqueue(u, topic, 'b', 1)
    await u.query('commit')
    assert.ok(BigInt(j) < BigInt(j1))
    assert.deepEqual(
      (await drain(topic, 1)).map((r) => r.id),
      [j1],
      "U's row is settled by xid although the smaller id j is still open",
    )
    await t.query('commit')
    assert.deepEqual(
      (await drain(topic, 1)).map((r) => r.id),
      [j],
      'j is claimed once T commits: the status column never skips it',
    )
  })

  test('T takes its xid first and inserts j, U inserts j+1 and commits: j+1 waits for j', async () => {
    const topic = `h.tu.${randomUUID()}`
    const t = await session()
    const u = await session()
    await t.query('begin')
    const j = await enqueue(t, topic, 'a', 1)
    await u.query('begin')
    const j1 = await enqueue(u, topic, 'a', 2)
    await u.query('commit')
    assert.deepEqual(await claimIds(topic), [], 'the newer transaction waits for the open older one')
    await t.query('commit')
    const published = await drain(topic, 2)
    assert.deepEqual(idsOfKey(published, 'a'), [BigInt(j), BigInt(j1)])
  })

  test('with the aggregate locked, U (older xid) writing the key T holds waits, and the key stays in id order', async () => {
    const topic = `h.lock.${randomUUID()}`
    const u = await session()
    const t = await session()
    await u.query('begin')
    await u.query('update public.orders set version = version + 1 where id = 5')
    await t.query('begin')
    await t.query('update public.orders set version = version + 1 where id = 6')
    const j = await enqueue(t, topic, '6', 1)
    const uLocks = u.query('update public.orders set version = version + 1 where id = 6')
    const other = await committed(topic, '7', 1)
    assert.deepEqual(await claimIds(topic), [], 'T holds newer transactions back')
    await t.query('commit')
    await uLocks
    const j1 = await enqueue(u, topic, '6', 2)
    await u.query('commit')
    const published = await drain(topic, 3)
    assert.deepEqual(published.map((r) => r.id).sort(), [j, j1, other].sort())
    const key6 = idsOfKey(published, '6')
    assert.deepEqual(key6, [BigInt(j), BigInt(j1)])
    assert.ok(inIdOrder(key6))
  })

  test("the relay's own pool plans the horizon once per connection, and reads the same horizon", async () => {
    const prepared = openDatabase(db.url, 'postbox-relay horizon-prepared', 1, { prepare: true })
    const slow = await session()
    try {
      await slow.query('begin')
      await enqueue(slow, `h.prepared.${randomUUID()}`, 'k1', 1)
      const { rows } = await slow.query<{ pid: number }>('select pg_backend_pid() as pid')
      const first = await outbox.readHorizon(prepared)
      const second = await outbox.readHorizon(prepared)
      const plain = await outbox.readHorizon(relayDb)
      assert.equal(first.holderPid, rows[0]?.pid, 'the open outbox write holds the horizon')
      assert.deepEqual(second, first)
      assert.deepEqual(plain, first, 'an unprepared read gives the same answer')
      const statements = await prepared.query<{ statement: string }>(
        'select statement from pg_prepared_statements',
        [],
      )
      assert.equal(statements.length, 1, 'one prepared statement on the connection, used twice')
      assert.match(statements[0]?.statement ?? '', /pg_lock_status\(\)/)
      const none = await relayDb.query('select statement from pg_prepared_statements', [])
      assert.deepEqual(none, [], 'a pool opened without prepare prepares nothing')
    } finally {
      await slow.query('rollback')
      await prepared.close()
    }
  })
})
