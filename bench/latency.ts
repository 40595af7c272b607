// Commit → ack latency with live writers at a fixed rate, LISTEN on.
// The writers run in a child process (bench/latency-writers.ts), so they do not share the relay's
// event loop. Commit time is taken by the writer when COMMIT returns. Ack time is when the
// relay's onBatch hook reports the batch (after Kafka acknowledged it and the rows were marked).
// The hook does not name rows, so the relay's copy of the event records each row it maps, and
// every report takes its `published` rows from the front of that queue: batches are reported in
// the order their rows were mapped.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { type OrderRow, orderEvent } from './events.js'
import type { WriterOptions, WriterReport } from './latency-writers.js'
import { Relay, resolveConfig } from './relay-api.js'
import { explainStall, type Scratch, type Stack } from './stack.js'
import { clock, percentile, waitFor } from './timeline.js'

export interface LatencyResult {
  targetPerSecond: number
  achievedPerSecond: number
  eventsPerTransaction: number
  measured: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** The relay's own figure (hook latencySeconds: ack minus the row's created_at). */
  relayReportedP99Ms: number
}

export async function measureLatency(
  stack: Stack,
  scratch: Scratch,
  options: {
    name: string
    perSecond: number
    eventsPerTransaction: number
    seconds: number
    warmUpSeconds: number
    writers: number
  },
): Promise<LatencyResult> {
  const db = await scratch.database(options.name)
  const mapped: number[] = []
  const committedAt = new Map<number, number>()
  const ackedAt = new Map<number, number>()
  const relayReported: number[] = []
  let measuring = false
  const relay = new Relay(
    resolveConfig({
      events: [orderEvent(db.topic, (row: OrderRow) => mapped.push(row.id))],
      databaseUrl: db.url,
      kafka: { brokers: stack.brokers },
      registry: { url: stack.registryUrl },
      logLevel: 'error',
      relay: { listen: true },
    }),
    {
      hooks: {
        onBatch: (report) => {
          const now = clock()
          for (const id of mapped.splice(0, report.published)) if (!ackedAt.has(id)) ackedAt.set(id, now)
          if (measuring) relayReported.push(...report.rows.map((r) => r.latencySeconds * 1000))
        },
      },
    },
  )
  let nextId = 0
  // The writers run in a child process; commit and ack times are on the same machine clock.
  const write = async (seconds: number, firstMeasured: { id: number }) => {
    firstMeasured.id = nextId
    const report = await runWriters({
      url: db.url,
      topic: db.topic,
      perSecond: options.perSecond,
      eventsPerTransaction: options.eventsPerTransaction,
      seconds,
      writers: options.writers,
      firstId: nextId,
    })
    for (const [first, rows, at] of report.commits) {
      for (let id = first; id < first + rows; id++) committedAt.set(id, at)
    }
    nextId = report.nextId
    return report.achieved
  }
  try {
    await relay.start()
    const warmUp = { id: 0 }
    await write(options.warmUpSeconds, warmUp)
    await waitFor(
      'latency warm-up',
      () => ackedAt.size >= nextId,
      () => ackedAt.size,
      () => explainStall(stack.databaseUrl, db.name),
    )
    const window = { id: 0 }
    measuring = true
    const achieved = await write(options.seconds, window)
    await waitFor(
      'latency drain',
      () => ackedAt.size >= nextId,
      () => ackedAt.size,
      () => explainStall(stack.databaseUrl, db.name),
    )
    measuring = false
    const latencies: number[] = []
    for (let id = window.id; id < nextId; id++) {
      const ack = ackedAt.get(id)
      const commit = committedAt.get(id)
      if (ack !== undefined && commit !== undefined) latencies.push(Math.max(0, ack - commit))
    }
    return {
      targetPerSecond: options.perSecond,
      achievedPerSecond: achieved,
      eventsPerTransaction: options.eventsPerTransaction,
      measured: latencies.length,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: percentile(latencies, 100),
      relayReportedP99Ms: percentile(relayReported, 99),
    }
  } finally {
    await relay.stop()
  }
}

/** Runs bench/latency-writers.ts in a child process (same Node, same TypeScript loader). */
function runWriters(options: WriterOptions): Promise<WriterReport> {
  const script = fileURLToPath(new URL('latency-writers.ts', import.meta.url))
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...process.execArgv, script, JSON.stringify(options)],
      { maxBuffer: 256 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error !== null) reject(new Error(`the latency writers failed: ${stderr}`, { cause: error }))
        else resolve(JSON.parse(stdout) as WriterReport)
      },
    )
  })
}
