// Claim-path costs in Postgres alone (no Kafka), every variant side by side in one run:
// a scratch database gets migrations 0001+0002, stale statistics (analyzed while small), then a
// bulk backlog without analyze, as after an outage. Prints one table per section.
// Usage: node --import tsx bench/claim/claim-bench.ts [--backlog 1000000] [--drain 200000] [--batch 2000]
//        [--cursor-only: only today's drain and the cursor layout's, side by side, after the fill]
//        [--delete-only: today's drain with the mark, then with the rows deleted instead (relay.sentRows)]

import { readFileSync } from 'node:fs'
import pg from 'pg'
import {
  claimVariants,
  cursorClaimSql,
  cursorMarkSql,
  cursorRetireSql,
  markVariants,
  prepareCursorLayout,
  prepareSideTables,
  prepareVariants,
  setLowWater,
} from './variants.js'

const args = process.argv.slice(2)
const option = (name: string, fallback: number) =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback
const backlog = option('--backlog', 1_000_000)
const drain = option('--drain', 200_000)
const batch = option('--batch', 2000)
const rounds = option('--rounds', 8)
const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const dbName = `claimbench_${process.pid}`
const dbUrl = (() => {
  const u = new URL(adminUrl)
  u.pathname = `/${dbName}`
  return u.toString()
})()

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN
const fmt = (n: number, d = 1) => n.toFixed(d).padStart(9)

/** CPU time (ms) the server backend has used: wall time is meaningless on a shared, loaded box. */
let backendPid = 0
async function backendCpuMs(): Promise<number> {
  const { readFile } = await import('node:fs/promises')
  const fields = (await readFile(`/proc/${backendPid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) * 10
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.hrtime.bigint()
  const r = await fn()
  return [Number(process.hrtime.bigint() - t0) / 1e6, r]
}

/** Rows 1..n pending over 1,000 keys (16 shards), ~300 bytes each, in 100k-row transactions. */
async function fill(c: pg.Client, n: number) {
  for (let done = 0; done < n; done += 100_000) {
    await c.query(
      `insert into postbox.outbox (event_id, event_type, topic, key, payload)
       select gen_random_uuid(), 'order.placed', 'bench.orders', (g % 1000)::text,
              jsonb_build_object('id', g, 'customer', repeat('c', 200), 'total', g % 9999)
       from generate_series($1::int, $2::int) g`,
      [done + 1, Math.min(done + 100_000, n)],
    )
  }
}

/** Summary of one EXPLAIN (ANALYZE, BUFFERS, WAL): plan shape, time, pages touched, WAL bytes. */
async function explain(c: pg.Client, sql: string, values: unknown[]) {
  const { rows } = await c.query<{ 'QUERY PLAN': unknown }>(
    `explain (analyze, buffers, wal, format json) ${sql}`,
    values,
  )
  type Doc = { Plan: Record<string, unknown>; 'Execution Time': number }
  const doc = (rows[0]?.['QUERY PLAN'] as [Doc] | undefined)?.[0]
  if (doc === undefined) throw new Error('EXPLAIN returned no plan')
  const nodes: string[] = []
  const walk = (p: Record<string, unknown>) => {
    const name = `${p['Node Type']}${p['Index Name'] ? `(${p['Index Name']})` : ''}`
    if (!['Result', 'Limit', 'Subquery Scan', 'Function Scan', 'CTE Scan'].includes(String(p['Node Type'])))
      nodes.push(name)
    for (const child of (p.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child)
  }
  walk(doc.Plan)
  const hit = Number(doc.Plan['Shared Hit Blocks'] ?? 0) + Number(doc.Plan['Shared Read Blocks'] ?? 0)
  return {
    ms: doc['Execution Time'],
    buffers: hit,
    walBytes: Number(doc.Plan['WAL Bytes'] ?? 0),
    plan: nodes,
  }
}

async function inTx<T>(c: pg.Client, setup: string[], fn: () => Promise<T>, commit = false): Promise<T> {
  await c.query('begin')
  try {
    for (const s of setup) await c.query(s)
    const r = await fn()
    await c.query(commit ? 'commit' : 'rollback')
    return r
  } catch (e) {
    await c.query('rollback')
    throw e
  }
}

async function claimSection(c: pg.Client, label: string) {
  const shards = Array.from({ length: 16 }, (_, i) => i)
  console.log(`\n## claim ${batch} rows, ${label}`)
  console.log('variant                         wall ms   cpu ms  cpu µs/row  buffers  rows  plan')
  for (const v of claimVariants) await inTx(c, v.setup, () => c.query(v.sql, v.values(shards, batch)))
  for (const v of claimVariants) {
    const values = v.values(shards, batch)
    const ex = await inTx(c, v.setup, () => explain(c, v.sql, values))
    const times: number[] = []
    let got = 0
    const cpu0 = await backendCpuMs()
    for (let i = 0; i < rounds; i++) {
      const [ms, r] = await inTx(c, v.setup, () => timed(() => c.query(v.sql, values)))
      times.push(ms)
      got = r.rowCount ?? 0
    }
    const cpu = ((await backendCpuMs()) - cpu0) / rounds
    console.log(
      `${v.name.padEnd(30)}${fmt(median(times))}${fmt(cpu)}${fmt((cpu * 1000) / Math.max(got, 1))}${String(ex.buffers).padStart(10)}${String(got).padStart(6)}  ${ex.plan.join(' > ')}`,
    )
  }
}

async function markSection(c: pg.Client, label: string) {
  console.log(`\n## mark ${batch} rows, ${label} (each variant marks its own freshly claimed rows)`)
  console.log('variant                         wall ms   cpu ms  cpu µs/row  buffers  WAL B/row  hot%')
  for (const v of markVariants) {
    const times: number[] = []
    let cpu = 0
    let first = { buffers: 0, walBytes: 0, hot: 0 }
    for (let i = 0; i < rounds; i++) {
      const ids = await v.pick(c, batch)
      const cpu0 = await backendCpuMs()
      if (i === 0) {
        first = await inTx(
          c,
          [],
          async () => {
            const ex = await explain(c, v.sql, v.values(ids))
            times.push(ex.ms)
            const { rows } = await c.query<{ hot: string }>(
              'select pg_stat_get_xact_tuples_hot_updated($1::regclass) as hot',
              [v.table],
            )
            return {
              buffers: ex.buffers,
              walBytes: ex.walBytes / ids.length,
              hot: Number(rows[0]?.hot) / ids.length,
            }
          },
          true,
        )
      } else if (times[0] !== undefined && times[0] > 2000) {
        break
      } else {
        const [ms] = await timed(() => c.query(v.sql, v.values(ids)))
        times.push(ms)
        cpu += (await backendCpuMs()) - cpu0
      }
    }
    cpu /= Math.max(times.length - 1, 1)
    console.log(
      `${v.name.padEnd(30)}${fmt(median(times))}${fmt(cpu)}${fmt((cpu * 1000) / batch)}${String(first.buffers).padStart(10)}${fmt(first.walBytes, 0)}  ${fmt(first.hot * 100, 0)}`,
    )
  }
}

/** Claim + mark in a loop; shows whether the claim slows down as dead index entries pile up. */
async function drainSection(c: pg.Client, variantName: string, markName: string, total: number) {
  const claim = claimVariants.find((v) => v.name === variantName)
  const mark = markVariants.find((v) => v.name === markName)
  if (claim === undefined || mark === undefined) throw new Error('unknown variant')
  const shards = Array.from({ length: 16 }, (_, i) => i)
  console.log(`\n## drain ${total} rows: ${variantName} + ${markName}`)
  console.log('drained   claim ms  mark ms   claim buffers  (wall; cpu totals below)')
  const cpuStart = await backendCpuMs()
  let claimCpu = 0
  let markCpu = 0
  let drained = 0
  let iteration = 0
  const t0 = Date.now()
  while (drained < total) {
    const values = claim.values(shards, batch)
    const report = iteration % 20 === 0
    const ex = report ? await inTx(c, claim.setup, () => explain(c, claim.sql, values)) : null
    let at = await backendCpuMs()
    const [ms, r] = await inTx(c, claim.setup, () => timed(() => c.query<{ id: string }>(claim.sql, values)))
    claimCpu += (await backendCpuMs()) - at
    const ids = r.rows.map((row) => row.id)
    if (ids.length === 0) break
    at = await backendCpuMs()
    const [markMs] = await timed(() => c.query(mark.sql, mark.values(ids)))
    markCpu += (await backendCpuMs()) - at
    drained += ids.length
    if (report && ex !== null)
      console.log(`${String(drained).padStart(7)}${fmt(ms)}${fmt(markMs)}${String(ex.buffers).padStart(12)}`)
    iteration++
  }
  const s = (Date.now() - t0) / 1000
  const cpu = (await backendCpuMs()) - cpuStart
  console.log(
    `drained ${drained} in ${s.toFixed(1)} s wall (${Math.round(drained / s)} rows/s); backend cpu ${(cpu / 1000).toFixed(1)} s = ${((cpu * 1000) / drained).toFixed(1)} µs/row claim+mark (${Math.round(drained / (cpu / 1000))} rows/s per busy core); claim ${((claimCpu * 1000) / drained).toFixed(1)}, mark ${((markCpu * 1000) / drained).toFixed(1)} µs/row`,
  )
}

/**
 * The cursor layout (variants.ts, prepareCursorLayout) drained like drainSection: claim, advance
 * every shard's cursor to the batch's last id, and retire the batch's rows by range. The three
 * costs are reported apart; retiring could as well run later, or drop whole partitions.
 */
async function cursorDrainSection(c: pg.Client, total: number) {
  const shards = Array.from({ length: 16 }, (_, i) => i)
  const setup = ['set local enable_bitmapscan = off', 'set local enable_sort = off']
  const bound = '9223372036854775807'
  let position = '0'
  const claimValues = () => [shards, shards.map(() => position), position, bound, batch]
  const ex = await inTx(c, setup, () => explain(c, cursorClaimSql, claimValues()))
  console.log(
    `\n## drain ${total} rows: cursor layout (claim by cursor, one progress row per shard, retire by range)`,
  )
  console.log(`claim plan: ${ex.plan.join(' > ')}, ${ex.buffers} buffers for ${batch} rows`)
  const cpu = { claim: 0, mark: 0, retire: 0 }
  const wal = { mark: 0, retire: 0 }
  let drained = 0
  const t0 = Date.now()
  while (drained < total) {
    let at = await backendCpuMs()
    const { rows } = await inTx(c, setup, () => c.query<{ id: string }>(cursorClaimSql, claimValues()))
    cpu.claim += (await backendCpuMs()) - at
    const last = rows.at(-1)?.id
    if (last === undefined) break
    const report = drained % 40_000 === 0
    at = await backendCpuMs()
    if (report)
      wal.mark += (
        await inTx(c, [], () => explain(c, cursorMarkSql, [shards, shards.map(() => last)]), true)
      ).walBytes
    else await c.query(cursorMarkSql, [shards, shards.map(() => last)])
    cpu.mark += (await backendCpuMs()) - at
    at = await backendCpuMs()
    if (report)
      wal.retire +=
        (await inTx(c, [], () => explain(c, cursorRetireSql, [position, last]), true)).walBytes / rows.length
    else await c.query(cursorRetireSql, [position, last])
    cpu.retire += (await backendCpuMs()) - at
    position = last
    drained += rows.length
  }
  const s = (Date.now() - t0) / 1000
  const perRow = (ms: number) => ((ms * 1000) / drained).toFixed(1)
  console.log(
    `drained ${drained} in ${s.toFixed(1)} s wall; backend cpu µs/row: claim ${perRow(cpu.claim)}, cursor update ${perRow(cpu.mark)}, retire ${perRow(cpu.retire)}; total ${perRow(cpu.claim + cpu.mark + cpu.retire)} (${Math.round(drained / ((cpu.claim + cpu.mark + cpu.retire) / 1000))} rows/s per busy core)`,
  )
  console.log(
    `WAL: ~${Math.round(wal.mark / Math.max(1, Math.ceil(total / 40_000)))} bytes per cursor update (16 rows), ~${Math.round(wal.retire / Math.max(1, Math.ceil(total / 40_000)))} bytes per retired row`,
  )
  const after = await inTx(c, setup, () => explain(c, cursorClaimSql, claimValues()))
  console.log(
    `claim after the drain: ${after.buffers} buffers for ${batch} rows (dead rows retired, not vacuumed)`,
  )
}

async function main() {
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  await admin.query(`create database ${dbName}`)
  const c = new pg.Client({ connectionString: dbUrl, application_name: 'claim-bench' })
  try {
    await c.connect()
    // The schema of 0.1 (0001 + 0002); the variants add what they need.
    await c.query('create schema postbox')
    for (const f of ['0001_outbox.sql', '0002_shard_progress.sql'])
      await c.query(
        readFileSync(new URL(`../../migrations/${f}`, import.meta.url), 'utf8').replaceAll(
          '{{schema}}',
          '"postbox"',
        ),
      )
    backendPid = Number((await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid)
    // Stale statistics: analyzed while the table held 20,000 rows, 0.5% of them pending, then a
    // bulk backlog arrives (the planner then expects ~0.5% of the table to be pending).
    await fill(c, 20_000)
    await c.query(`update postbox.outbox set status = 'sent', sent_at = now() where id > 100`)
    await c.query('vacuum analyze postbox.outbox')
    await prepareVariants(c)
    const [fillMs] = await timed(() => fill(c, backlog))
    const parked = await c.query(
      `update postbox.outbox set status = 'parked' where id in (select min(id) from postbox.outbox where status = 'pending' and key in ('7', '8'))`,
    )
    console.log(
      `# backlog ${backlog} pending rows filled in ${(fillMs / 1000).toFixed(1)} s, ${parked.rowCount} parked`,
    )
    const stats = await c.query(
      `select n_live_tup, n_dead_tup, last_analyze, last_autoanalyze, current_setting('autovacuum') as autovacuum
       from pg_stat_user_tables where relname = 'outbox'`,
    )
    console.log('# stats as the planner sees them:', JSON.stringify(stats.rows[0]))
    if (args.includes('--delete-only')) {
      await drainSection(c, 'C1 today, no bitmap/sort', 'M1b today, status hidden', drain)
      await drainSection(c, 'C1 today, no bitmap/sort', 'M9 delete on publish', drain)
      return
    }
    if (args.includes('--cursor-only')) {
      // Side by side at the same backlog: today's claim (plan pinned, as the relay's connections
      // pin it) and mark, then the cursor layout, filled from the same pending rows first.
      await prepareCursorLayout(c)
      await drainSection(c, 'C1 today, no bitmap/sort', 'M1b today, status hidden', drain)
      await cursorDrainSection(c, drain)
      return
    }
    await prepareSideTables(c, (rounds + 2) * batch)
    const low = await c.query<{ low: string }>(
      `select min(id) - 1 as low from postbox.outbox where status = 'pending'`,
    )
    setLowWater(Number(low.rows[0]?.low))
    await claimSection(c, `backlog ${backlog}, stale statistics`)
    await markSection(c, `backlog ${backlog}`)
    await drainSection(c, 'C7 claim_pending() (0004)', 'M1b today, status hidden', drain)
    await drainSection(c, 'C0 today', 'M1 today (lease CTE)', Math.min(drain, 20_000))
    const low2 = await c.query<{ low: string }>(
      `select min(id) - 1 as low from postbox.outbox where status = 'pending'`,
    )
    setLowWater(Number(low2.rows[0]?.low))
    await claimSection(c, `after draining, before vacuum`)
    const [vacMs] = await timed(() => c.query('vacuum postbox.outbox'))
    console.log(`\n# vacuum took ${(vacMs / 1000).toFixed(1)} s`)
    await claimSection(c, `after vacuum (no analyze)`)
    await prepareCursorLayout(c)
    await cursorDrainSection(c, drain)
  } finally {
    await c.end().catch(() => {})
    await admin.query(`drop database if exists ${dbName} with (force)`)
    await admin.end()
  }
}

await main()
