// Postbox benchmark suite: one run, one table, one JSON file.
//   npm run bench                    full run → bench/results/latest.json (takes many minutes)
//   npm run bench -- --quick         smoke with small counts, same code paths → bench/results/quick.json
//   npm run bench -- --batch 5000    relay batch size (default: the relay's own default)
// Postbox first: it tunes kafkajs as it loads it (src/kafka/kafkajs-tuning.ts), and the raw producer
// row must use the very client the relay uses.
import './relay-api.js'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { type CliDrainResult, measureCliDrain } from './cli-drain.js'
import { measureDrain } from './drain.js'
import { measureEnqueueCost } from './enqueue-cost.js'
import { describeEnvironment } from './environment.js'
import { KEYS } from './events.js'
import { measureLatency } from './latency.js'
import { measureNaivePoller } from './naive-poller.js'
import { measureRawProducer, measureStockKafkajs } from './raw-producer.js'
import { readPublished } from './read-published.js'
import { type Figure, printTable, writeResults } from './report.js'
import { createScratch, type Scratch, type Stack } from './stack.js'

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

/**
 * Where one CLI drain's CPU went, per 1,000 events: the relay's Postgres backends, the relay's
 * process, the broker's, and the whole machine (those, Postgres's own background processes and
 * this benchmark); and the rate at which that cost per event would keep every core busy.
 */
function cpuFigures(result: CliDrainResult, suffix: string, drain: string): Figure[] {
  return [
    {
      key: `pg_cpu_ms_per_1k_events${suffix}`,
      value: result.pgCpuMsPer1k,
      unit: 'ms',
      what: `relay's Postgres backends, ${drain}`,
    },
    {
      key: `relay_cpu_ms_per_1k_events${suffix}`,
      value: result.relayCpuMsPer1k,
      unit: 'ms',
      what: 'relay CLI process(es), same drain',
    },
    {
      key: `broker_cpu_ms_per_1k_events${suffix}`,
      value: result.brokerCpuMsPer1k,
      unit: 'ms',
      what: 'Kafka broker process, same drain',
    },
    {
      key: `machine_cpu_ms_per_1k_events${suffix}`,
      value: result.machineCpuMsPer1k,
      unit: 'ms',
      what: 'every process on the machine, same drain',
    },
    {
      key: `cpu_ceiling_events_per_s${suffix}`,
      value: (cpus().length * 1_000_000) / result.machineCpuMsPer1k,
      unit: 'events/s',
      what: `${cpus().length} cores / machine CPU per event: the rate that would keep every core busy`,
    },
  ]
}

/** Runs every measurement in turn, adding its figures as it finishes. */
async function measureAll(scratch: Scratch, add: (figure: Figure) => void): Promise<Record<string, unknown>> {
  const n = count(sizes.drain)
  step(`drain of ${n} committed rows, at-least-once`)
  const drain = await measureDrain(stack, scratch, {
    name: 'drain',
    events: sizes.drain,
    batchSize,
    delivery: 'at-least-once',
  })
  add({
    key: 'drain_events_per_s',
    value: drain.steadyPerSecond,
    unit: 'events/s',
    what: `steady drain of ${n} committed rows (middle 80%)`,
  })
  add({
    key: 'drain_total_s',
    value: drain.totalSeconds,
    unit: 's',
    what: 'that drain from relay.start() to the last ack',
  })
  add({
    key: 'pg_cpu_ms_per_1k_events',
    value: drain.pgCpuMsPer1k,
    unit: 'ms',
    what: `relay's Postgres backends, ${n}-row drain`,
  })
  add({
    key: 'pg_autovacuum_cpu_ms_per_1k_events',
    value: drain.pgAutovacuumMsPer1k,
    unit: 'ms',
    what: 'autovacuum on its database, same',
  })

  step('raw producer on the messages the relay published')
  const raw = await measureRawProducer(
    stack,
    await readPublished(stack.brokers, drain.topic, sizes.drain),
    drain.batchSize,
  )
  add({
    key: 'raw_producer_events_per_s',
    value: raw.perSecond,
    unit: 'events/s',
    what: `kafkajs with Postbox's tuning, the relay's producer, same ${n} messages`,
  })
  add({
    key: 'drain_vs_raw_ratio',
    value: drain.steadyPerSecond / raw.perSecond,
    unit: '×',
    what: 'drain_events_per_s / raw producer',
  })
  step('raw producer, kafkajs as published, in a process of its own')
  const stock = await measureStockKafkajs(stack, drain.topic, sizes.drain, drain.batchSize)
  add({
    key: 'raw_stock_kafkajs_events_per_s',
    value: stock,
    unit: 'events/s',
    what: `kafkajs without Postbox's tuning, default partitioner, same ${n} messages`,
  })
  add({
    key: 'drain_vs_stock_kafkajs_ratio',
    value: drain.steadyPerSecond / stock,
    unit: '×',
    what: 'drain_events_per_s / stock kafkajs producer',
  })

  step(`drain of ${n} committed rows, exactly-once`)
  const eos = await measureDrain(stack, scratch, {
    name: 'eos',
    events: sizes.drain,
    batchSize,
    delivery: 'exactly-once',
  })
  add({
    key: 'drain_eos_events_per_s',
    value: eos.steadyPerSecond,
    unit: 'events/s',
    what: `steady drain of ${n} rows, exactly-once, batches of ${eos.batchSize.toLocaleString('en-US')}`,
  })
  add({
    key: 'eos_vs_drain_ratio',
    value: eos.steadyPerSecond / drain.steadyPerSecond,
    unit: '×',
    what: 'exactly-once / at-least-once',
  })

  const latencyRun = { seconds: sizes.latencySeconds, warmUpSeconds: sizes.warmUpSeconds, writers: 4 }
  step('latency at 1,000 events/s')
  const at1k = await measureLatency(stack, scratch, {
    name: 'latency1k',
    perSecond: 1_000,
    eventsPerTransaction: 1,
    ...latencyRun,
  })
  add({
    key: 'latency_p50_ms_at_1k',
    value: at1k.p50Ms,
    unit: 'ms',
    what: 'commit → ack, 1 event per transaction, LISTEN on',
  })
  add({
    key: 'latency_p99_ms_at_1k',
    value: at1k.p99Ms,
    unit: 'ms',
    what: `achieved ${Math.round(at1k.achievedPerSecond)} events/s`,
  })
  add({
    key: 'latency_relay_reported_p99_ms_at_1k',
    value: at1k.relayReportedP99Ms,
    unit: 'ms',
    what: "relay's hook: ack − row created_at",
  })
  step('latency at 10,000 events/s')
  const at10k = await measureLatency(stack, scratch, {
    name: 'latency10k',
    perSecond: 10_000,
    eventsPerTransaction: 10,
    ...latencyRun,
  })
  add({
    key: 'latency_p50_ms_at_10k',
    value: at10k.p50Ms,
    unit: 'ms',
    what: 'commit → ack, 10 events per transaction',
  })
  add({
    key: 'latency_p99_ms_at_10k',
    value: at10k.p99Ms,
    unit: 'ms',
    what: `achieved ${Math.round(at10k.achievedPerSecond)} events/s`,
  })

  step('enqueue cost')
  const enqueue = await measureEnqueueCost(scratch, { iterations: sizes.enqueue, manyIterations: sizes.many })
  const iterations = `median of ${count(enqueue.iterations)}`
  add({
    key: 'enqueue_overhead_ratio',
    value: enqueue.ratio,
    unit: '×',
    what: 'BEGIN + domain insert + enqueue + COMMIT vs without',
  })
  add({
    key: 'enqueue_overhead_ratio_no_notify',
    value: enqueue.ratioNoNotify,
    unit: '×',
    what: 'same, createOutbox({ notify: false })',
  })
  add({
    key: 'enqueue_trigger_overhead_ratio',
    value: enqueue.ratioTrigger,
    unit: '×',
    what: 'same, the outbox row written by an AFTER INSERT trigger calling postbox.enqueue()',
  })
  add({ key: 'transaction_without_enqueue_ms', value: enqueue.withoutMs, unit: 'ms', what: iterations })
  add({ key: 'transaction_with_enqueue_ms', value: enqueue.withEnqueueMs, unit: 'ms', what: iterations })
  add({ key: 'transaction_with_trigger_ms', value: enqueue.withTriggerMs, unit: 'ms', what: iterations })
  add({
    key: 'enqueue_many_100_ms',
    value: enqueue.enqueueMany100Ms,
    unit: 'ms',
    what: 'BEGIN + enqueueMany(100 rows) + COMMIT, median',
  })

  // The small backlog again, by the CLI: the large drain's own yardstick, so the ratio below
  // compares backlog sizes alone (the relay in the benchmark's process runs with V8's default
  // heap sizing and shares nothing with the CLI's process).
  step(`drain of ${n} committed rows by the relay CLI`)
  const cliSmall = await measureCliDrain(stack, scratch, { name: 'cli', events: sizes.drain, batchSize })
  add({
    key: 'drain_events_per_s_cli',
    value: cliSmall.steadyPerSecond,
    unit: 'events/s',
    what: `steady drain of ${n} rows, relay CLI`,
  })
  for (const figure of cpuFigures(cliSmall, '_cli', `${n}-row CLI drain`)) add(figure)

  const large = count(sizes.large)
  step(`drain of ${large} committed rows by the relay CLI`)
  const cli = await measureCliDrain(stack, scratch, { name: 'large', events: sizes.large, batchSize })
  add({
    key: 'drain_events_per_s_1m',
    value: cli.steadyPerSecond,
    unit: 'events/s',
    what: `steady drain of ${large} rows, relay CLI`,
  })
  add({
    key: 'drain_1m_vs_cli_ratio',
    value: cli.steadyPerSecond / cliSmall.steadyPerSecond,
    unit: '×',
    what: `the ${large}-row CLI drain / the ${n}-row one`,
  })
  add({
    key: 'drain_total_s_1m',
    value: cli.totalSeconds,
    unit: 's',
    what: 'that drain from starting the CLI to the last ack',
  })
  for (const figure of cpuFigures(cli, '_1m', `${large}-row drain`)) add(figure)
  add({
    key: 'rss_max_mb',
    value: cli.rssMaxMb,
    unit: 'MB',
    what: 'relay CLI peak RSS (VmHWM) over that drain',
  })
  add({
    key: 'rss_first_ack_mb',
    value: cli.rssFirstAckMb,
    unit: 'MB',
    what: 'its RSS at the first acknowledgement',
  })
  add({ key: 'rss_end_mb', value: cli.rssEndMb, unit: 'MB', what: 'its RSS at the last' })

  // Scaling out: two relay processes share the shards of the same backlog.
  step(`drain of ${large} committed rows by two relay CLI processes`)
  const two = await measureCliDrain(stack, scratch, {
    name: 'largetwo',
    events: sizes.large,
    batchSize,
    processes: 2,
  })
  add({
    key: 'drain_events_per_s_1m_two_relays',
    value: two.steadyPerSecond,
    unit: 'events/s',
    what: `steady drain of ${large} rows, two relay CLI processes`,
  })
  add({
    key: 'two_relays_vs_one_ratio_1m',
    value: two.steadyPerSecond / cli.steadyPerSecond,
    unit: '×',
    what: 'two relay processes / one, same backlog',
  })
  for (const figure of cpuFigures(two, '_1m_two_relays', `${large}-row drain, two relays`)) add(figure)

  // The same two drains by relays that delete what they publish (relay.sentRows: 'delete').
  step(`drain of ${n} committed rows by the relay CLI, sent rows deleted`)
  const cliSmallDelete = await measureCliDrain(stack, scratch, {
    name: 'clidel',
    events: sizes.drain,
    batchSize,
    sentRows: 'delete',
  })
  add({
    key: 'drain_events_per_s_cli_delete',
    value: cliSmallDelete.steadyPerSecond,
    unit: 'events/s',
    what: `steady drain of ${n} rows, relay CLI, sentRows: 'delete'`,
  })
  for (const figure of cpuFigures(cliSmallDelete, '_cli_delete', `${n}-row CLI drain, sentRows: 'delete'`))
    add(figure)
  step(`drain of ${large} committed rows by the relay CLI, sent rows deleted`)
  const cliDelete = await measureCliDrain(stack, scratch, {
    name: 'largedel',
    events: sizes.large,
    batchSize,
    sentRows: 'delete',
  })
  add({
    key: 'drain_events_per_s_1m_delete',
    value: cliDelete.steadyPerSecond,
    unit: 'events/s',
    what: `steady drain of ${large} rows, relay CLI, sentRows: 'delete'`,
  })
  add({
    key: 'drain_1m_vs_cli_ratio_delete',
    value: cliDelete.steadyPerSecond / cliSmallDelete.steadyPerSecond,
    unit: '×',
    what: `the ${large}-row / ${n}-row CLI drains, sentRows: 'delete'`,
  })
  for (const figure of cpuFigures(cliDelete, '_1m_delete', `${large}-row drain, sentRows: 'delete'`))
    add(figure)
  add({
    key: 'rss_max_mb_delete',
    value: cliDelete.rssMaxMb,
    unit: 'MB',
    what: 'relay CLI peak RSS (VmHWM) over that drain',
  })

  step('naive poller')
  const naive = await measureNaivePoller(stack, scratch, { events: sizes.naive })
  add({
    key: 'naive_poller_events_per_s',
    value: naive.perSecond,
    unit: 'events/s',
    what: 'one row per round trip: select, send, await, update',
  })

  return {
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
}

async function main() {
  const environment = await describeEnvironment(stack.databaseUrl)
  const load = environment.machine.loadAverageAtStart['1m']
  if (load !== undefined && load > environment.machine.cpus) {
    step(
      `load average ${load} on ${environment.machine.cpus} cores: these figures will not be representative`,
    )
  }
  const scratch = createScratch(stack)
  const figures: Figure[] = []
  let settings: Record<string, unknown>
  try {
    settings = await measureAll(scratch, (figure) => figures.push(figure))
  } catch (error) {
    // What was measured before the failure is still worth seeing; no file is written.
    if (figures.length > 0) printTable(figures)
    throw error
  } finally {
    step('dropping the run databases and topics')
    await scratch.cleanUp()
  }
  printTable(figures)
  writeResults(output, figures, { ...environment, settings, measured_at: new Date().toISOString() })
  console.log(`\nwritten to ${output}`)
}

await main()
