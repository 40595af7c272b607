import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { after, before, describe, test } from 'node:test'
import knexFactory, { type Knex } from 'knex'
import pg from 'pg'
import type { Relay } from '../../src/relay-api.js'
import { runPostbox } from '../support/cli.js'
import { type OrderRow, orderEvent } from '../support/events.js'
import { outboxFor, startRelay } from '../support/relay.js'
import { createMigratedDatabase, createTestDatabase, stack, uniqueName, waitFor } from '../support/stack.js'

describe('postbox status', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let knex: Knex
  const topic = uniqueName('status')
  const Event = orderEvent(topic)
  const outbox = outboxFor([Event])
  const order = (id: number): OrderRow => ({ id, customer: 'c', total_cents: 1, status: 's' })

  before(async () => {
    db = await createMigratedDatabase('pbstatus')
    knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 2 } })
  })
  after(async () => {
    await knex.destroy()
    await db.drop()
  })

  test('shows pending rows and the oldest pending age per topic while no relay runs', async () => {
    await knex.transaction((trx) => outbox.enqueueMany(trx, Event, [order(1), order(2), order(3)]))
    const run = await runPostbox(['status', '--json'], { databaseUrl: db.url })
    assert.equal(run.code, 0, run.stderr)
    const report = JSON.parse(run.stdout) as {
      topics: { topic: string; pending: number; oldestPendingSeconds: number }[]
      relays: unknown[]
    }
    const row = report.topics.find((t) => t.topic === topic)
    assert.equal(row?.pending, 3)
    assert.ok((row?.oldestPendingSeconds ?? -1) >= 0)
    assert.deepEqual(report.relays, [])

    const text = await runPostbox(['status'], { databaseUrl: db.url })
    assert.match(text.stdout, new RegExp(`${topic.replace(/\./g, '\\.')}\\s+3\\s`))
    assert.match(text.stdout, /relays: none running/)
  })

  test('lists running relays with the shards they hold, and names an open transaction rows wait on', async () => {
    let relay: Relay | null = await startRelay(db.url, [Event])
    const slow = new pg.Client({ connectionString: db.url })
    await slow.connect()
    try {
      await waitFor('rows sent', async () => {
        const r = await runPostbox(['status', '--json'], { databaseUrl: db.url })
        const t = (JSON.parse(r.stdout) as { topics: { topic: string; pending: number }[] }).topics.find(
          (x) => x.topic === topic,
        )
        return t?.pending === 0 ? true : undefined
      })
      await slow.query('begin')
      const [{ pid }] = (await slow.query('select pg_backend_pid() as pid')).rows as [{ pid: number }]
      await outbox.enqueue(slow, Event, order(9))
      await knex.transaction((trx) => outbox.enqueue(trx, Event, order(10)))

      const run = await runPostbox(['status', '--stall-seconds', '0'], { databaseUrl: db.url })
      assert.equal(run.code, 0, run.stderr)
      assert.match(run.stdout, /0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15/, 'the relay holds all 16 shards')
      assert.match(
        run.stdout,
        new RegExp(`waiting: \\d+ committed row\\(s\\) wait behind an open transaction \\(pid ${pid}`),
      )
      await slow.query('commit')
      await relay.stop()
      relay = null
    } finally {
      await slow.end()
      await relay?.stop()
    }
  })

  test('--watch repeats the report until SIGTERM, then exits 0', async () => {
    const child = spawn(process.execPath, ['dist/bin/postbox.js', 'status', '--watch', '--interval', '0.2'], {
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: db.url, KAFKA_BROKERS: stack.brokers.join(',') },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8')
    })
    await waitFor('three reports', async () =>
      (stdout.match(/postbox status at /g) ?? []).length >= 3 ? true : undefined,
    )
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
    child.kill('SIGTERM')
    assert.equal(await exited, 0)
  })

  test('an unmigrated database is reported with the command that fixes it, exit 1', async () => {
    const empty = await createTestDatabase('pbstatusempty')
    try {
      const run = await runPostbox(['status'], { databaseUrl: empty.url })
      assert.equal(run.code, 1)
      assert.match(run.stderr, /not migrated: run `postbox migrate`/)
    } finally {
      await empty.drop()
    }
  })
})
