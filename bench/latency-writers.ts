// The latency measurement's writers, in a process of their own (bench/latency.ts starts it), so
// they do not share an event loop or a core's time slice with the relay they measure.
// Argument: WriterOptions as JSON. Output on stdout: WriterReport as JSON.
import pg from 'pg'
import { type OrderRow, orderEvent, orderRow } from './events.js'
import { createOutbox } from './relay-api.js'
import { clock, sleep } from './timeline.js'

export interface WriterOptions {
  url: string
  topic: string
  perSecond: number
  eventsPerTransaction: number
  seconds: number
  writers: number
  firstId: number
}

export interface WriterReport {
  /** Events per second actually committed. */
  achieved: number
  /** One entry per transaction: first row id, rows, and when COMMIT returned (epoch ms, µs precision). */
  commits: [number, number, number][]
  nextId: number
}

async function main(options: WriterOptions): Promise<WriterReport> {
  const event = orderEvent(options.topic)
  const outbox = createOutbox({ events: [event] })
  const clients = await Promise.all(
    Array.from({ length: options.writers }, async () => {
      const client = new pg.Client({
        connectionString: options.url,
        application_name: 'postbox-bench writer',
      })
      await client.connect()
      return client
    }),
  )
  const commits: WriterReport['commits'] = []
  let nextId = options.firstId
  // Open loop: transaction i is due at start + i × interval, and whichever writer is free takes
  // it. Writers that cannot keep up lower the achieved rate, which is reported.
  const interval = 1000 / (options.perSecond / options.eventsPerTransaction)
  const start = performance.now()
  const end = start + options.seconds * 1000
  let due = 0
  let written = 0
  try {
    await Promise.all(
      clients.map(async (client) => {
        for (;;) {
          const dueAt = start + due * interval
          if (dueAt >= end || performance.now() >= end) return
          due++
          const wait = dueAt - performance.now()
          if (wait > 0) await sleep(wait)
          const first = nextId
          const rows = Array.from({ length: options.eventsPerTransaction }, () => orderRow(nextId++))
          await client.query('begin')
          if (rows.length === 1) await outbox.enqueue(client, event, rows[0] as OrderRow)
          else await outbox.enqueueMany(client, event, rows)
          await client.query('commit')
          commits.push([first, rows.length, clock()])
          written += rows.length
        }
      }),
    )
  } finally {
    await Promise.all(clients.map((c) => c.end()))
  }
  return { achieved: written / ((performance.now() - start) / 1000), commits, nextId }
}

const report = await main(JSON.parse(process.argv[2] ?? '{}') as WriterOptions)
process.stdout.write(JSON.stringify(report))
