// What the application pays inside its own transaction, with a pg client.
import pg from 'pg'
import { type OrderRow, orderEvent, orderRow, orderRows } from './events.js'
import { createOutbox } from './relay-api.js'
import type { Scratch } from './stack.js'
import { median } from './timeline.js'

export interface EnqueueCost {
  iterations: number
  withoutMs: number
  withEnqueueMs: number
  withEnqueueNoNotifyMs: number
  /** median(with enqueue) / median(without), NOTIFY on (the default). */
  ratio: number
  ratioNoNotify: number
  /** The domain insert's own AFTER INSERT trigger calls postbox.enqueue() (no extra round trip). */
  withTriggerMs: number
  ratioTrigger: number
  enqueueMany100Ms: number
}

export async function measureEnqueueCost(
  scratch: Scratch,
  options: { iterations: number; manyIterations: number },
): Promise<EnqueueCost> {
  const db = await scratch.database('enqueue')
  const event = orderEvent(db.topic)
  const outbox = createOutbox({ events: [event] })
  const quiet = createOutbox({ events: [event], notify: false })
  const client = new pg.Client({ connectionString: db.url, application_name: 'postbox-bench enqueue' })
  await client.connect()
  try {
    await client.query(
      `create table bench_order (id bigint primary key, customer_id int not null, total_cents bigint not null, doc jsonb not null)`,
    )
    // The same table, with a trigger that writes the outbox row in the insert's own statement.
    await client.query('create table bench_order_trigger (like bench_order including all)')
    await client.query(`create function bench_order_event() returns trigger language plpgsql as $$
      begin
        perform postbox.enqueue('bench.order', new.customer_id::text, to_jsonb(new), '{}', '${db.topic}');
        return new;
      end $$`)
    await client.query(`create trigger bench_order_event after insert on bench_order_trigger
      for each row execute function bench_order_event()`)
    let id = 0
    const domainInsert = (row: OrderRow, table = 'bench_order') =>
      client.query(`insert into ${table} (id, customer_id, total_cents, doc) values ($1, $2, $3, $4)`, [
        row.id,
        row.customer_id,
        row.total_cents,
        row.ship_to,
      ])
    const variants = {
      without: async (row: OrderRow) => {
        await domainInsert(row)
      },
      withEnqueue: async (row: OrderRow) => {
        await domainInsert(row)
        await outbox.enqueue(client, event, row)
      },
      withEnqueueNoNotify: async (row: OrderRow) => {
        await domainInsert(row)
        await quiet.enqueue(client, event, row)
      },
      withTrigger: async (row: OrderRow) => {
        await domainInsert(row, 'bench_order_trigger')
      },
    }
    const times: Record<keyof typeof variants, number[]> = {
      without: [],
      withEnqueue: [],
      withEnqueueNoNotify: [],
      withTrigger: [],
    }
    const names = Object.keys(variants) as (keyof typeof variants)[]
    const warmUp = Math.max(20, Math.round(options.iterations / 20))
    for (let i = 0; i < warmUp + options.iterations; i++) {
      // Interleaved, and the order rotates, so drift on a busy machine hits every variant alike.
      for (let k = 0; k < names.length; k++) {
        const name = names[(i + k) % names.length] as keyof typeof variants
        const row = orderRow(id++)
        const started = performance.now()
        await client.query('begin')
        await variants[name](row)
        await client.query('commit')
        if (i >= warmUp) times[name].push(performance.now() - started)
      }
    }
    const many: number[] = []
    for (let i = 0; i < options.manyIterations + 5; i++) {
      const rows = orderRows(id, 100)
      id += 100
      const started = performance.now()
      await client.query('begin')
      await outbox.enqueueMany(client, event, rows)
      await client.query('commit')
      if (i >= 5) many.push(performance.now() - started)
    }
    const without = median(times.without)
    return {
      iterations: options.iterations,
      withoutMs: without,
      withEnqueueMs: median(times.withEnqueue),
      withEnqueueNoNotifyMs: median(times.withEnqueueNoNotify),
      ratio: median(times.withEnqueue) / without,
      ratioNoNotify: median(times.withEnqueueNoNotify) / without,
      withTriggerMs: median(times.withTrigger),
      ratioTrigger: median(times.withTrigger) / without,
      enqueueMany100Ms: median(many),
    }
  } finally {
    await client.end()
  }
}
