// `npm run demo`: migrate, run a small order service, relay its events, then read them back
// from Kafka with an independent consumer that decodes through the schema registry.
import { spawn } from 'node:child_process'
import knexFactory from 'knex'
import { migrate } from '../../src/relay-api.js'
import { readPublished } from '../../src/testing.js'
import { OrderService } from './order-service.js'

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')
const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7'

function runRelayUntilDrained(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['dist/bin/postbox.js', 'relay', '--until-drained', '--config', 'examples/orders/postbox.config.ts'],
      {
        stdio: ['ignore', 'inherit', 'pipe'],
        env: {
          ...process.env,
          DATABASE_URL: databaseUrl,
          KAFKA_BROKERS: brokers.join(','),
          SCHEMA_REGISTRY_URL: registryUrl,
          LOG_LEVEL: 'warn',
        },
      },
    )
    child.stderr.on('data', (chunk: Buffer) => process.stderr.write(`  relay | ${chunk}`))
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`relay exited with ${code}`))))
  })
}

const knex = knexFactory({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: 2 } })
try {
  console.log('1. migrating the postbox schema')
  const migrated = await migrate(databaseUrl, 'postbox')
  console.log(`   ${migrated.applied.length} migration(s) applied`)

  console.log('2. the order service writes orders and their events in one transaction each')
  const service = new OrderService(knex)
  await service.createTable()
  const since = new Date()
  await service.place({
    id: 1,
    customer_id: 7,
    status: 'placed',
    total_cents: 2599,
    currency: 'EUR',
    internal_notes: 'gift wrap',
  })
  await service.place({
    id: 2,
    customer_id: 8,
    status: 'placed',
    total_cents: 990,
    currency: 'USD',
    internal_notes: null,
  })
  await service.place({
    id: 3,
    customer_id: 7,
    status: 'placed',
    total_cents: 15000,
    currency: 'EUR',
    internal_notes: 'fragile',
  })
  await service.setStatus(1, 'paid')
  await service.setStatus(1, 'shipped')
  await service.remove(2)
  await knex
    .transaction(async (trx) => {
      await trx.withSchema('demo').table('orders').where({ id: 3 }).update({ status: 'paid' })
      throw new Error('payment declined')
    })
    .catch(() => console.log('   (a rolled-back payment of order 3 writes no event)'))

  console.log('3. the relay publishes committed events: postbox relay --until-drained')
  await runRelayUntilDrained()

  console.log('4. an independent consumer reads demo.orders.v1 and decodes through the registry')
  const records = (await readPublished({ brokers, registryUrl }, 'demo.orders.v1'))
    .filter((r) => Date.parse(r.headers['created-at'] ?? '') >= since.getTime() - 1000)
    .sort((a, b) => Number(a.headers['outbox-id']) - Number(b.headers['outbox-id']))
  console.table(
    records.map((r) => ({
      partition: r.partition,
      key: r.key,
      'event type': r.headers['event-type'],
      value: r.value === null ? 'tombstone' : JSON.stringify(r.value),
    })),
  )
  const pending = await knex
    .withSchema('postbox')
    .table('outbox')
    .where({ status: 'pending' })
    .count<{ count: string }[]>()
  console.log(`outbox rows still pending: ${pending[0]?.count}`)
} finally {
  await knex.destroy()
}
