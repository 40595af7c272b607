// Steady drain of a committed backlog by the relay running in this process.
import { orderEvent } from './events.js'
import { type PgCpu, samplePgCpu } from './pg-cpu.js'
import { Relay, resolveConfig } from './relay-api.js'
import { explainStall, fillBacklog, type Scratch, type Stack } from './stack.js'
import { type Point, steadyRate, waitFor } from './timeline.js'

export interface DrainResult {
  events: number
  /** Steady events/s (middle 80% of the drain). */
  steadyPerSecond: number
  /** Seconds from relay.start() to the last acknowledgement. */
  totalSeconds: number
  pgCpuMsPer1k: number
  pgAutovacuumMsPer1k: number
  /** Where the relay published, for the raw-producer comparison. */
  topic: string
  partitions: number
  batchSize: number
}

export async function measureDrain(
  stack: Stack,
  scratch: Scratch,
  options: { name: string; events: number; batchSize?: number; delivery: 'at-least-once' | 'exactly-once' },
): Promise<DrainResult> {
  const db = await scratch.database(options.name)
  await fillBacklog(db.url, db.topic, options.events)
  const config = resolveConfig({
    events: [orderEvent(db.topic)],
    databaseUrl: db.url,
    kafka: { brokers: stack.brokers },
    registry: { url: stack.registryUrl },
    logLevel: 'error',
    relay: { delivery: options.delivery, ...(options.batchSize ? { batchSize: options.batchSize } : {}) },
  })
  const timeline: Point[] = []
  let done = 0
  const relay = new Relay(config, {
    hooks: {
      onBatch: (report) => {
        done += report.published
        timeline.push({ at: performance.now(), done })
      },
    },
  })
  const cpu = await samplePgCpu(stack.databaseUrl, db.name)
  const started = performance.now()
  let pg: PgCpu
  try {
    await relay.start()
    await waitFor(
      `${options.name} drain`,
      () => done >= options.events,
      () => done,
      () => explainStall(stack.databaseUrl, db.name),
    )
  } finally {
    pg = await cpu.stop()
    await relay.stop()
  }
  const perThousand = options.events / 1000
  return {
    events: options.events,
    steadyPerSecond: steadyRate(timeline, options.events),
    totalSeconds: ((timeline.at(-1)?.at ?? started) - started) / 1000,
    pgCpuMsPer1k: pg.relayMs / perThousand,
    pgAutovacuumMsPer1k: pg.autovacuumMs / perThousand,
    topic: db.topic,
    partitions: config.relay.topicPartitions,
    batchSize: config.relay.batchSize,
  }
}
