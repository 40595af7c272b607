// Commit → ack latency with live writers at a fixed rate, LISTEN on.
// Commit time is taken by the writer when COMMIT returns. Ack time is when the relay's onBatch
// hook reports the batch (after Kafka acknowledged it and the rows were marked). The hook does
// not name rows, so the relay's copy of the event records each row it maps, and every report
// takes its `published` rows from the front of that queue: batches are reported in the order
// their rows were mapped.
import pg from 'pg'
import { type OrderRow, orderEvent, orderRow } from './events.js'
import { createOutbox, Relay, resolveConfig } from './relay-api.js'
import { explainStall, type Scratch, type Stack } from './stack.js'
import { percentile, sleep, waitFor } from './timeline.js'

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
          const now = performance.now()
          for (const id of mapped.splice(0, report.published)) if (!ackedAt.has(id)) ackedAt.set(id, now)
          if (measuring) relayReported.push(...report.rows.map((r) => r.latencySeconds * 1000))
        },
      },
    },
  )
  const writerEvent = orderEvent(db.topic)
  const outbox = createOutbox({ events: [writerEvent] })
  const clients = await Promise.all(
    Array.from({ length: options.writers }, async () => {
      const client = new pg.Client({ connectionString: db.url, application_name: 'postbox-bench writer' })
      await client.connect()
      return client
    }),
  )
  let nextId = 0
  // Open loop for `seconds`: transaction i is due at start + i × interval, and whichever writer is
  // free takes it. Writers that cannot keep up lower the achieved rate, which is reported.
  const write = async (seconds: number, firstMeasured: { id: number }) => {
    const interval = 1000 / (options.perSecond / options.eventsPerTransaction)
    const start = performance.now()
    const end = start + seconds * 1000
    let due = 0
    let written = 0
    firstMeasured.id = nextId
    await Promise.all(
      clients.map(async (client) => {
        for (;;) {
          const dueAt = start + due * interval
          if (dueAt >= end || performance.now() >= end) return
          due++
          const wait = dueAt - performance.now()
          if (wait > 0) await sleep(wait)
          const rows = Array.from({ length: options.eventsPerTransaction }, () => orderRow(nextId++))
          await client.query('begin')
          if (rows.length === 1) await outbox.enqueue(client, writerEvent, rows[0] as OrderRow)
          else await outbox.enqueueMany(client, writerEvent, rows)
          await client.query('commit')
          const now = performance.now()
          for (const r of rows) committedAt.set(r.id, now)
          written += rows.length
        }
      }),
    )
    return written / ((performance.now() - start) / 1000)
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
    await Promise.all(clients.map((c) => c.end()))
    await relay.stop()
  }
}
