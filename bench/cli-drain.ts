// The large drain, run by the real CLI (`postbox relay`) as a child process, as users run it:
// compiled to JavaScript first (a TypeScript loader would add its own memory to the RSS), with
// a compiled config file. Progress comes from its /metrics (postbox_published_total), memory
// from /proc/<pid>/status.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { type AddressInfo, createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { listenerPid, machineBusyMs, processCpuMs, samplePgCpu } from './pg-cpu.js'
import { explainStall, fillBacklog, type Scratch, type Stack } from './stack.js'
import { type Point, STALL_MS, sleep, steadyRate } from './timeline.js'

const root = fileURLToPath(new URL('..', import.meta.url))

export interface CliDrainResult {
  events: number
  steadyPerSecond: number
  totalSeconds: number
  /** VmHWM of the relay process: its peak resident memory (the largest, with several processes). */
  rssMaxMb: number
  /** Resident memory at the first acknowledgement and at the end, to show whether it grows. */
  rssFirstAckMb: number
  rssEndMb: number
  relayCpuMsPer1k: number
  pgCpuMsPer1k: number
  pgAutovacuumMsPer1k: number
  /** The Kafka broker's process (found by its port), NaN when it is not local. */
  brokerCpuMsPer1k: number
  /** Every process of the machine together, from the relay's start to the last acknowledgement. */
  machineCpuMsPer1k: number
}

function statusMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match ? Number(match[1]) / 1024 : Number.NaN
}

async function publishedSoFar(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  let total = 0
  for (const line of text.split('\n')) {
    if (line.startsWith('postbox_published_total')) total += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return total
}

/** A port nothing listens on now: bound, then released, for the relay CLI's /metrics. */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/**
 * Resolves once the CLI answers on its metrics port; keeps the last lines of its log (JSON lines
 * on stdout, read so a full pipe cannot block it) for errors.
 */
function metricsReady(child: ChildProcess, port: number, log: string[]): Promise<void> {
  const read = (chunk: Buffer) => {
    log.push(
      ...chunk
        .toString()
        .split('\n')
        .filter((line) => line !== ''),
    )
    log.splice(0, Math.max(0, log.length - 20))
  }
  child.stdout?.on('data', read)
  child.stderr?.on('data', read)
  return new Promise((resolve, reject) => {
    let exited = false
    child.once('exit', (code) => {
      exited = true
      reject(new Error(`the relay CLI exited (${code}) before serving metrics:\n${log.join('\n')}`))
    })
    const poll = () => {
      if (exited) return
      fetch(`http://127.0.0.1:${port}/metrics`).then(
        () => resolve(),
        () => setTimeout(poll, 100),
      )
    }
    poll()
  })
}

/** One CLI drain: its database's name, the backlog, the relay's batch size and what it does with sent rows. */
export interface CliDrainOptions {
  name: string
  events: number
  batchSize?: number
  sentRows?: 'keep' | 'delete'
  /** Relay CLI processes draining it side by side (they share the shards); default 1. */
  processes?: number
}

export async function measureCliDrain(
  stack: Stack,
  scratch: Scratch,
  options: CliDrainOptions,
): Promise<CliDrainResult> {
  const db = await scratch.database(options.name)
  // Inside the project, so the compiled files resolve its node_modules and its "type": "module".
  const build = join(root, 'node_modules', '.cache', `postbox-bench-${db.name}`)
  execFileSync(
    join(root, 'node_modules', '.bin', 'tsc'),
    ['-p', 'bench/tsconfig.relay-cli.json', '--outDir', build],
    {
      cwd: root,
      stdio: 'inherit',
    },
  )
  try {
    await fillBacklog(db.url, db.topic, options.events)
    return await drainWithCli(stack, db, build, options)
  } finally {
    rmSync(build, { recursive: true, force: true })
  }
}

interface RelayCli {
  child: ChildProcess
  pid: number
  port: number
  log: string[]
  exited: Promise<number | null>
}

/** One `postbox relay` process on the drain's database, serving /metrics on a port of its own. */
async function spawnRelayCli(
  stack: Stack,
  db: { url: string; topic: string },
  build: string,
  options: CliDrainOptions,
): Promise<RelayCli> {
  const port = await freePort()
  const child = spawn(process.execPath, [join(build, 'bin', 'postbox.js'), 'relay'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      KAFKA_BROKERS: stack.brokers.join(','),
      SCHEMA_REGISTRY_URL: stack.registryUrl,
      POSTBOX_CONFIG: join(build, 'bench', 'cli-config.js'),
      LOG_LEVEL: 'warn',
      BENCH_TOPIC: db.topic,
      BENCH_BATCH_SIZE: String(options.batchSize ?? ''),
      BENCH_SENT_ROWS: options.sentRows ?? 'keep',
      BENCH_HTTP_PORT: String(port),
    },
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  return { child, pid: child.pid as number, port, log: [], exited }
}

async function stopRelayCli(relay: RelayCli): Promise<void> {
  relay.child.kill('SIGTERM')
  const timeout = setTimeout(() => relay.child.kill('SIGKILL'), 30_000)
  await relay.exited
  clearTimeout(timeout)
}

async function drainWithCli(
  stack: Stack,
  db: { url: string; name: string; topic: string },
  build: string,
  options: CliDrainOptions,
): Promise<CliDrainResult> {
  const cpu = await samplePgCpu(stack.databaseUrl, db.name)
  const brokerPid = listenerPid(Number(stack.brokers[0]?.split(':').at(-1)))
  const brokerStartMs = brokerPid === null ? null : processCpuMs(brokerPid)
  const machineStartMs = machineBusyMs()
  const started = performance.now()
  const relays: RelayCli[] = []
  const timeline: Point[] = []
  const sumOver = (f: (relay: RelayCli) => number) => relays.reduce((total, relay) => total + f(relay), 0)
  const maxOver = (f: (relay: RelayCli) => number) => Math.max(...relays.map(f))
  let rssFirstAckMb = Number.NaN
  let rssMaxMb = Number.NaN
  let rssEndMb = Number.NaN
  let relayCpuMs = 0
  let brokerCpuMs = Number.NaN
  let machineCpuMs = Number.NaN
  let pgCpu: Awaited<ReturnType<typeof cpu.stop>>
  try {
    for (let i = 0; i < (options.processes ?? 1); i++)
      relays.push(await spawnRelayCli(stack, db, build, options))
    await Promise.all(relays.map((relay) => metricsReady(relay.child, relay.port, relay.log)))
    let movedAt = performance.now()
    for (;;) {
      const done = (await Promise.all(relays.map((relay) => publishedSoFar(relay.port)))).reduce(
        (a, b) => a + b,
        0,
      )
      const now = performance.now()
      if (done !== (timeline.at(-1)?.done ?? 0)) {
        if (timeline.length === 0) rssFirstAckMb = maxOver((relay) => statusMb(relay.pid, 'VmRSS'))
        timeline.push({ at: now, done })
        movedAt = now
      } else if (now - movedAt > STALL_MS) {
        throw new Error(
          `${options.name}: the relay CLI made no progress for ${STALL_MS / 1000} s (at ${done})\n${await explainStall(stack.databaseUrl, db.name)}\nits log:\n${relays.flatMap((relay) => relay.log).join('\n')}`,
        )
      }
      if (done >= options.events) break
      await sleep(250)
    }
    rssMaxMb = maxOver((relay) => statusMb(relay.pid, 'VmHWM'))
    rssEndMb = maxOver((relay) => statusMb(relay.pid, 'VmRSS'))
    relayCpuMs = sumOver((relay) => processCpuMs(relay.pid) ?? Number.NaN)
    machineCpuMs = machineBusyMs() - machineStartMs
    const brokerEndMs = brokerPid === null ? null : processCpuMs(brokerPid)
    if (brokerStartMs !== null && brokerEndMs !== null) brokerCpuMs = brokerEndMs - brokerStartMs
  } finally {
    pgCpu = await cpu.stop()
    await Promise.all(relays.map(stopRelayCli))
  }
  const perThousand = options.events / 1000
  return {
    events: options.events,
    steadyPerSecond: steadyRate(timeline, options.events),
    totalSeconds: ((timeline.at(-1)?.at ?? started) - started) / 1000,
    rssMaxMb,
    rssFirstAckMb,
    rssEndMb,
    relayCpuMsPer1k: relayCpuMs / perThousand,
    pgCpuMsPer1k: pgCpu.relayMs / perThousand,
    pgAutovacuumMsPer1k: pgCpu.autovacuumMs / perThousand,
    brokerCpuMsPer1k: brokerCpuMs / perThousand,
    machineCpuMsPer1k: machineCpuMs / perThousand,
  }
}
