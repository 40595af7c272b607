// Postbox benchmark suite: one run, one table, one JSON file.
//   npm run bench                    full run → bench/results/latest.json (takes many minutes)
//   npm run bench -- --quick         smoke with small counts, same code paths → bench/results/quick.json
//   npm run bench -- --batch 5000    relay batch size (default: the relay's own default)
import { fileURLToPath } from 'node:url'
import { measureCliDrain } from './cli-drain.js'
import { measureDrain } from './drain.js'
import { measureEnqueueCost } from './enqueue-cost.js'
import { describeEnvironment } from './environment.js'
import { KEYS } from './events.js'
import { measureLatency } from './latency.js'
import { measureNaivePoller } from './naive-poller.js'
import { measureRawProducer, readPublished } from './raw-producer.js'
import { type Figure, printTable, writeResults } from './report.js'
import { createScratch, type Stack } from './stack.js'

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const batchArg = args.includes('--batch') ? Number(args[args.indexOf('--batch') + 1]) : undefined
const batchSize = batchArg !== undefined && batchArg > 0 ? batchArg : undefined
const sizes = quick
  ? { drain: 5_000, large: 20_000, latencySeconds: 2, warmUpSeconds: 0.5, enqueue: 200, many: 20, naive: 200 }
  : {
      drain: 100_000,
      large: 1_000_000,
      latencySeconds: 20,
      warmUpSeconds: 2,
      enqueue: 2_000,
      many: 200,
      naive: 2_000,
    }
const output = fileURLToPath(new URL(`results/${quick ? 'quick' : 'latest'}.json`, import.meta.url))

const stack: Stack = {
  databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
  registryUrl: process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7',
}

const step = (what: string) => process.stderr.write(`${new Date().toISOString()} ${what}\n`)
const count = (n: number) => n.toLocaleString('en-US')

async function main() {
  const environment = await describeEnvironment(stack.databaseUrl)
  const [load] = environment.machine.loadAverageAtStart
  if (load !== undefined && load > environment.machine.cpus) {
    step(
      `load average ${load} on ${environment.machine.cpus} cores: these figures will not be representative`,
    )
  }
  const scratch = createScratch(stack)
  const figures: Figure[] = []
  const add = (key: string, value: number, unit: string, what: string) =>
    figures.push({ key, value, unit, what })
  let settings: Record<string, unknown> = {}
  try {
    step('enqueue cost')
    const enqueue = await measureEnqueueCost(scratch, {
      iterations: sizes.enqueue,
      manyIterations: sizes.many,
    })

    step(`drain of ${count(sizes.drain)} committed rows, at-least-once`)
    const drain = await measureDrain(stack, scratch, {
      name: 'drain',
      events: sizes.drain,
      batchSize,
      delivery: 'at-least-once',
    })
    step('raw producer on the messages the relay published')
    const raw = await measureRawProducer(
      stack,
      await readPublished(stack, drain.topic, sizes.drain),
      drain.batchSize,
    )

    step(`drain of ${count(sizes.drain)} committed rows, exactly-once`)
    const eos = await measureDrain(stack, scratch, {
      name: 'eos',
      events: sizes.drain,
      batchSize,
      delivery: 'exactly-once',
    })

    step('latency at 1,000 events/s')
    const at1k = await measureLatency(stack, scratch, {
      name: 'latency1k',
      perSecond: 1_000,
      eventsPerTransaction: 1,
      seconds: sizes.latencySeconds,
      warmUpSeconds: sizes.warmUpSeconds,
      writers: 4,
    })
    step('latency at 10,000 events/s')
    const at10k = await measureLatency(stack, scratch, {
      name: 'latency10k',
      perSecond: 10_000,
      eventsPerTransaction: 10,
      seconds: sizes.latencySeconds,
      warmUpSeconds: sizes.warmUpSeconds,
      writers: 4,
    })

    step(`drain of ${count(sizes.large)} committed rows by the relay CLI`)
    const large = await measureCliDrain(stack, scratch, { name: 'large', events: sizes.large, batchSize })

    step('naive poller')
    const naive = await measureNaivePoller(stack, scratch, { events: sizes.naive })

    const n = count(sizes.drain)
    add(
      'drain_events_per_s',
      drain.steadyPerSecond,
      'events/s',
      `steady drain of ${n} committed rows (middle 80%)`,
    )
    add(
      'drain_events_per_s_1m',
      large.steadyPerSecond,
      'events/s',
      `same, ${count(sizes.large)} rows, relay CLI`,
    )
    add('drain_total_s', drain.totalSeconds, 's', 'that drain from relay.start() to the last ack')
    add('drain_total_s_1m', large.totalSeconds, 's', 'the 1m drain from starting the CLI to the last ack')
    add(
      'raw_producer_events_per_s',
      raw.perSecond,
      'events/s',
      `kafkajs, the relay's producer, same ${n} messages`,
    )
    add('drain_vs_raw_ratio', drain.steadyPerSecond / raw.perSecond, '×', 'drain_events_per_s / raw producer')
    add('drain_eos_events_per_s', eos.steadyPerSecond, 'events/s', `steady drain of ${n} rows, exactly-once`)
    add(
      'eos_vs_drain_ratio',
      eos.steadyPerSecond / drain.steadyPerSecond,
      '×',
      'exactly-once / at-least-once',
    )
    add('latency_p50_ms_at_1k', at1k.p50Ms, 'ms', 'commit → ack, 1 event per transaction, LISTEN on')
    add('latency_p99_ms_at_1k', at1k.p99Ms, 'ms', `achieved ${Math.round(at1k.achievedPerSecond)} events/s`)
    add('latency_p50_ms_at_10k', at10k.p50Ms, 'ms', 'commit → ack, 10 events per transaction')
    add(
      'latency_p99_ms_at_10k',
      at10k.p99Ms,
      'ms',
      `achieved ${Math.round(at10k.achievedPerSecond)} events/s`,
    )
    add(
      'latency_relay_reported_p99_ms_at_1k',
      at1k.relayReportedP99Ms,
      'ms',
      "relay's hook: ack − row created_at",
    )
    add('enqueue_overhead_ratio', enqueue.ratio, '×', 'BEGIN + domain insert + enqueue + COMMIT vs without')
    add(
      'enqueue_overhead_ratio_no_notify',
      enqueue.ratioNoNotify,
      '×',
      'same, createOutbox({ notify: false })',
    )
    add('transaction_without_enqueue_ms', enqueue.withoutMs, 'ms', `median of ${count(enqueue.iterations)}`)
    add('transaction_with_enqueue_ms', enqueue.withEnqueueMs, 'ms', `median of ${count(enqueue.iterations)}`)
    add(
      'enqueue_many_100_ms',
      enqueue.enqueueMany100Ms,
      'ms',
      'BEGIN + enqueueMany(100 rows) + COMMIT, median',
    )
    add('pg_cpu_ms_per_1k_events', drain.pgCpuMsPer1k, 'ms', `relay's Postgres backends, ${n}-row drain`)
    add(
      'pg_autovacuum_cpu_ms_per_1k_events',
      drain.pgAutovacuumMsPer1k,
      'ms',
      'autovacuum on its database, same',
    )
    add(
      'pg_cpu_ms_per_1k_events_1m',
      large.pgCpuMsPer1k,
      'ms',
      `relay's Postgres backends, ${count(sizes.large)}-row drain`,
    )
    add('relay_cpu_ms_per_1k_events_1m', large.relayCpuMsPer1k, 'ms', 'relay CLI process, same drain')
    add('rss_max_mb', large.rssMaxMb, 'MB', 'relay CLI peak RSS (VmHWM) over that drain')
    add('rss_first_ack_mb', large.rssFirstAckMb, 'MB', 'its RSS at the first acknowledgement')
    add('rss_end_mb', large.rssEndMb, 'MB', 'its RSS at the last')
    add(
      'naive_poller_events_per_s',
      naive.perSecond,
      'events/s',
      'one row per round trip: select, send, await, update',
    )
    settings = {
      batch_size: drain.batchSize,
      event_bytes_avg: Math.round(raw.averageValueBytes),
      keys: KEYS,
      partitions: drain.partitions,
      listen: true,
      counts: {
        drain: sizes.drain,
        drain_1m: sizes.large,
        latency_seconds: sizes.latencySeconds,
        enqueue_iterations: sizes.enqueue,
        enqueue_many_iterations: sizes.many,
        naive: sizes.naive,
      },
      quick,
    }
  } finally {
    step('dropping the run databases and topics')
    await scratch.cleanUp()
  }
  printTable(figures)
  writeResults(output, figures, { ...environment, settings, measured_at: new Date().toISOString() })
  console.log(`\nwritten to ${output}`)
}

await main()
