// Baseline: what a home-grown relay often does, one row per round trip (select, send, await,
// update) on its own table with the same payloads and keys, with an idempotent acks=all producer.
import { Kafka, logLevel } from 'kafkajs'
import pg from 'pg'
import { type OrderRow, orderEvent, orderRows, toExternal } from './events.js'
import type { Scratch, Stack } from './stack.js'

export async function measureNaivePoller(
  stack: Stack,
  scratch: Scratch,
  options: { events: number },
): Promise<{ perSecond: number }> {
  const db = await scratch.database('naive')
  const event = orderEvent(db.topic)
  const client = new pg.Client({ connectionString: db.url, application_name: 'postbox-bench naive' })
  await client.connect()
  const kafka = new Kafka({ clientId: 'postbox-bench', brokers: stack.brokers, logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  try {
    await client.query(
      `create table naive_outbox (id bigserial primary key, key text not null, payload jsonb not null, sent boolean not null default false)`,
    )
    await client.query(
      `insert into naive_outbox (key, payload) select r->>'key', r->'payload' from jsonb_array_elements($1::jsonb) r`,
      [JSON.stringify(orderRows(0, options.events).map((payload) => ({ key: event.key(payload), payload })))],
    )
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: db.topic, numPartitions: 3 }], waitForLeaders: true })
    await producer.connect()
    const started = performance.now()
    for (;;) {
      const { rows } = await client.query<{ id: string; key: string; payload: OrderRow }>(
        'select id, key, payload from naive_outbox where not sent order by id limit 1',
      )
      const row = rows[0]
      if (row === undefined) break
      // Schema id 0: the baseline pays for encoding, not for a registry lookup.
      const value = Buffer.concat([Buffer.alloc(5), event.valueCodec.encode(toExternal(row.payload))])
      await producer.send({ topic: db.topic, acks: -1, messages: [{ key: row.key, value }] })
      await client.query('update naive_outbox set sent = true where id = $1', [row.id])
    }
    return { perSecond: options.events / ((performance.now() - started) / 1000) }
  } finally {
    await producer.disconnect()
    await admin.disconnect()
    await client.end()
  }
}
