// Cost of reading the claim horizon (pg_locks + pg_stat_activity) against the cluster-wide
// pg_snapshot_xmin, with a growing number of locks held by other sessions of the scratch database.
// Usage: node --import tsx bench/claim/horizon-bench.ts [--calls 2000]
import { readFile } from 'node:fs/promises'
import pg from 'pg'
import { migrate } from '../../src/db/migrate.js'
import { outboxQueries } from '../../src/db/outbox-queries.js'

const args = process.argv.slice(2)
const calls = args.includes('--calls') ? Number(args[args.indexOf('--calls') + 1]) : 2000
const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const dbName = `horizonbench_${process.pid}`
const u = new URL(adminUrl)
u.pathname = `/${dbName}`
const dbUrl = u.toString()

async function cpuMs(pid: number) {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) * 10
}

const admin = new pg.Client({ connectionString: adminUrl })
await admin.connect()
await admin.query(`create database ${dbName}`)
const holders: pg.Client[] = []
try {
  await migrate(dbUrl, 'postbox')
  const c = new pg.Client({ connectionString: dbUrl })
  await c.connect()
  const pid = Number((await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid)
  for (let i = 0; i < 100; i++) await c.query(`create table t${i} (x int)`)
  const db = {
    query: async <R>(t: string, v: readonly unknown[]) => (await c.query(t, v as unknown[])).rows as R[],
  }
  const q = outboxQueries('postbox')
  console.log('sessions holding locks  locks in pg_locks  horizon µs/call (cpu)  xmin µs/call (cpu)')
  for (const [sessions, tablesEach] of [
    [0, 0],
    [4, 1],
    [8, 50],
    [16, 100],
  ] as const) {
    while (holders.length < sessions) {
      const h = new pg.Client({ connectionString: dbUrl })
      await h.connect()
      await h.query('begin')
      await h.query(
        `insert into postbox.outbox (event_id, event_type, topic, key) values (gen_random_uuid(), 't', 't', 'k')`,
      )
      for (let i = 0; i < tablesEach; i++) await h.query(`insert into t${i} values (1)`)
      holders.push(h)
    }
    const locks = Number((await c.query<{ n: string }>('select count(*) as n from pg_locks')).rows[0]?.n)
    let t0 = await cpuMs(pid)
    for (let i = 0; i < calls; i++) await q.readHorizon(db)
    const horizon = ((await cpuMs(pid)) - t0) / calls
    t0 = await cpuMs(pid)
    for (let i = 0; i < calls; i++) await c.query('select pg_snapshot_xmin(pg_current_snapshot())')
    const xmin = ((await cpuMs(pid)) - t0) / calls
    console.log(
      `${String(sessions).padStart(22)}${String(locks).padStart(19)}${(horizon * 1000).toFixed(0).padStart(23)}${(xmin * 1000).toFixed(0).padStart(20)}`,
    )
  }
  await c.end()
} finally {
  for (const h of holders) await h.end().catch(() => {})
  await admin.query(`drop database if exists ${dbName} with (force)`)
  await admin.end()
}
