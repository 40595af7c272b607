// Postgres CPU spent on one database: utime + stime of its backends from /proc (the server is
// local), sampled while a measurement runs. A backend first seen mid-run counts from its start.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import pg from 'pg'

const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100

/** CPU milliseconds a process has used (user + system), or null once it is gone. */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces) start at state; utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond
  } catch {
    return null
  }
}

export interface PgCpu {
  /** CPU ms of the client backends of the database (the relay's connections). */
  relayMs: number
  /** CPU ms of autovacuum workers that worked on the database meanwhile. */
  autovacuumMs: number
}

export interface PgCpuSampler {
  stop(): Promise<PgCpu>
}

export async function samplePgCpu(
  serverUrl: string,
  database: string,
  intervalMs = 250,
): Promise<PgCpuSampler> {
  const client = new pg.Client({ connectionString: serverUrl, application_name: 'postbox-bench cpu' })
  await client.connect()
  const first = new Map<number, { type: string; ms: number }>()
  const last = new Map<number, number>()
  const sample = async () => {
    const { rows } = await client.query<{ pid: number; backend_type: string }>(
      `select pid, backend_type from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`,
      [database],
    )
    for (const { pid, backend_type } of rows) {
      const ms = processCpuMs(pid)
      if (ms === null) continue
      if (!first.has(pid)) first.set(pid, { type: backend_type, ms: started ? 0 : ms })
      last.set(pid, ms)
    }
    for (const pid of last.keys()) {
      const ms = processCpuMs(pid)
      if (ms !== null) last.set(pid, ms)
    }
  }
  let started = false
  await sample()
  started = true
  let sampling = Promise.resolve()
  const timer = setInterval(() => {
    sampling = sampling.then(sample).catch(() => {})
  }, intervalMs)
  return {
    async stop() {
      clearInterval(timer)
      await sampling
      await sample()
      await client.end()
      const total = { relayMs: 0, autovacuumMs: 0 }
      for (const [pid, { type, ms }] of first) {
        const used = (last.get(pid) ?? ms) - ms
        if (type === 'autovacuum worker') total.autovacuumMs += used
        else if (type === 'client backend') total.relayMs += used
      }
      return total
    },
  }
}

/** The process listening on a local TCP port (the broker's), or null when `ss` cannot tell. */
export function listenerPid(port: number): number | null {
  try {
    const line = execFileSync('ss', ['-ltnpH', `sport = :${port}`]).toString()
    const match = /pid=(\d+)/.exec(line)
    return match ? Number(match[1]) : null
  } catch {
    return null
  }
}

/** CPU milliseconds the whole machine has been busy (every state but idle and iowait), all cores. */
export function machineBusyMs(): number {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number)
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields
  return ((user + nice + system + irq + softirq + steal) * 1000) / ticksPerSecond
}
