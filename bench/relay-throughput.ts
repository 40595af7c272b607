// Relay throughput and latency, measured side by side in one run against the real stack:
//   raw kafkajs    the same pre-encoded messages sent straight to Kafka (the ceiling)
//   postbox relay  claim → map+encode → produce → mark, from rows already committed
//   naive poller   one row at a time: select, send, await, update (what many home-grown relays do)
// Usage: npm run bench [-- --events 50000 --batch 2000]
import { randomBytes } from 'node:crypto'
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry'
import { Kafka, logLevel } from 'kafkajs'
import knexFactory from 'knex'
import pg from 'pg'
import { createOutbox, defineEvent } from '../src/index.js'
import { silentLogger } from '../src/observe/logger.js'
import { migrate, Relay, resolveConfig } from '../src/relay-api.js'

const args = process.argv.slice(2)
const option = (name: string, fallback: number) =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback
const events = option('--events', 50_000)
const batchSize = option('--batch', 2000)
const naiveEvents = Math.min(2_000, events)
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')
const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7'
const run = `bench_${Date.now().toString(36)}_${randomBytes(2).toString('hex')}`

interface Row {
  id: number
  customer: string
  total_cents: number
}
const schema = {
  type: 'record',
  name: 'BenchOrder',
  namespace: 'postbox.bench',
  fields: [
    { name: 'orderId', type: 'string' },
    { name: 'customer', type: 'string' },
    { name: 'totalCents', type: 'long' },
  ],
}
const event = (topic: string) =>
  defineEvent({
    type: `bench.${topic}`,
    topic,
    key: (r: Row) => String(r.id % 1000),
    schema,
    toExternal: (r: Row) => ({ orderId: String(r.id), customer: r.customer, totalCents: r.total_cents }),
  })
const rows = (n: number): Row[] =>
  Array.from({ length: n }, (_, i) => ({ id: i, customer: `c${i % 97}`, total_cents: i }))

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}

async function main() {
  const admin = new pg.Client({ connectionString: databaseUrl })
  await admin.connect()
  await admin.query(`create database ${run}`)
  await admin.end()
  const url = new URL(databaseUrl)
  url.pathname = `/${run}`
  const db = url.toString()
  await migrate(db, 'postbox')
  const knex = knexFactory({ client: 'pg', connection: db, pool: { min: 1, max: 4 } })
  const kafka = new Kafka({ clientId: 'bench', brokers, logLevel: logLevel.NOTHING })
  const kafkaAdmin = kafka.admin()
  await kafkaAdmin.connect()
  const results: { name: string; events: number; seconds: number; perSecond: number; note: string }[] = []
  const record = (name: string, n: number, seconds: number, note = '') =>
    results.push({ name, events: n, seconds, perSecond: Math.round(n / seconds), note })

  try {
    // enqueue: what the application pays inside its own transactions
    const Relayed = event(`${run}.relay`)
    const outbox = createOutbox({ events: [Relayed], notify: false })
    let t = performance.now()
    for (let i = 0; i < events; i += 1000) {
      await knex.transaction((trx) => outbox.enqueueMany(trx, Relayed, rows(Math.min(1000, events - i))))
    }
    record(
      'enqueueMany (1000/tx)',
      events,
      (performance.now() - t) / 1000,
      'validate + insert, caller transaction',
    )

    // raw kafkajs ceiling on the same encoded messages
    const registry = new SchemaRegistry({ host: registryUrl })
    const rawTopic = `${run}.raw`
    await kafkaAdmin.createTopics({ topics: [{ topic: rawTopic, numPartitions: 3 }], waitForLeaders: true })
    const { id } = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
      { subject: `${rawTopic}-value` },
    )
    const encoded = await Promise.all(
      rows(Math.min(events, 2000)).map(async (r) => ({
        key: String(r.id % 1000),
        value: await registry.encode(id, {
          orderId: String(r.id),
          customer: r.customer,
          totalCents: r.total_cents,
        }),
      })),
    )
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    t = performance.now()
    for (let i = 0; i < events; i += 500) {
      const messages = Array.from(
        { length: Math.min(500, events - i) },
        (_, j) => encoded[(i + j) % encoded.length] as { key: string; value: Buffer },
      )
      await producer.send({ topic: rawTopic, acks: -1, messages })
    }
    record(
      'raw kafkajs producer (500/batch)',
      events,
      (performance.now() - t) / 1000,
      'no database, pre-encoded',
    )
    await producer.disconnect()

    // the relay draining the backlog enqueued above
    const latencies: number[] = []
    let published = 0
    const relay = new Relay(
      resolveConfig({
        events: [Relayed],
        databaseUrl: db,
        kafka: { brokers },
        registry: { url: registryUrl },
        relay: { batchSize, topicPartitions: 3 },
      }),
      {
        logger: silentLogger,
        hooks: {
          onBatch: (b) => {
            published += b.published
          },
        },
      },
    )
    await relay.start()
    t = performance.now()
    while (published < events) await new Promise((r) => setTimeout(r, 20))
    record(
      `postbox relay (batch ${batchSize})`,
      events,
      (performance.now() - t) / 1000,
      'claim+encode+produce+mark',
    )
    await relay.stop()

    // steady-state latency: a writer commits at a fixed rate while the relay runs
    const Live = event(`${run}.live`)
    const liveOutbox = createOutbox({ events: [Live] })
    const liveRelay = new Relay(
      resolveConfig({ events: [Live], databaseUrl: db, kafka: { brokers }, registry: { url: registryUrl } }),
      {
        logger: silentLogger,
        hooks: { onBatch: (b) => latencies.push(...b.rows.map((r) => r.latencySeconds)) },
      },
    )
    await liveRelay.start()
    const liveEvents = 2000
    t = performance.now()
    for (let i = 0; i < liveEvents; i += 10) {
      await knex.transaction((trx) => liveOutbox.enqueueMany(trx, Live, rows(10)))
      await new Promise((r) => setTimeout(r, 5))
    }
    while (latencies.length < liveEvents) await new Promise((r) => setTimeout(r, 20))
    record(
      'relay, live writer (commit→ack)',
      liveEvents,
      (performance.now() - t) / 1000,
      `p50 ${(percentile(latencies, 50) * 1000).toFixed(0)} ms, p99 ${(percentile(latencies, 99) * 1000).toFixed(0)} ms`,
    )
    await liveRelay.stop()

    // naive poller: one row per round trip, awaiting each send
    const Naive = event(`${run}.naive`)
    const naiveOutbox = createOutbox({ events: [Naive], notify: false })
    await knex.transaction((trx) => naiveOutbox.enqueueMany(trx, Naive, rows(naiveEvents)))
    await kafkaAdmin.createTopics({
      topics: [{ topic: Naive.topic, numPartitions: 3 }],
      waitForLeaders: true,
    })
    const naiveProducer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await naiveProducer.connect()
    t = performance.now()
    for (;;) {
      const {
        rows: [row],
      } = await knex.raw(
        `select id, key, payload from postbox.outbox where topic = ? and status = 'pending' order by id limit 1`,
        [Naive.topic],
      )
      if (row === undefined) break
      const value = await registry.encode(id, Naive.toExternal(row.payload))
      await naiveProducer.send({ topic: Naive.topic, acks: -1, messages: [{ key: row.key, value }] })
      await knex.raw(`update postbox.outbox set status = 'sent', sent_at = now() where id = ?`, [row.id])
    }
    record(
      'naive poller (1 row/round trip)',
      naiveEvents,
      (performance.now() - t) / 1000,
      'select, send, await, update',
    )
    await naiveProducer.disconnect()
  } finally {
    await kafkaAdmin.disconnect()
    await knex.destroy()
    const cleanup = new pg.Client({ connectionString: databaseUrl })
    await cleanup.connect()
    await cleanup.query(`drop database if exists ${run} with (force)`)
    await cleanup.end()
  }

  const width = Math.max(...results.map((r) => r.name.length))
  console.log(
    `\n${'what'.padEnd(width)}  ${'events'.padStart(7)}  ${'seconds'.padStart(8)}  ${'events/s'.padStart(9)}  note`,
  )
  for (const r of results) {
    console.log(
      `${r.name.padEnd(width)}  ${String(r.events).padStart(7)}  ${r.seconds.toFixed(2).padStart(8)}  ${String(r.perSecond).padStart(9)}  ${r.note}`,
    )
  }
  console.log(`\n${JSON.stringify({ machine: { cpus: (await import('node:os')).cpus().length }, results })}`)
}

await main()
