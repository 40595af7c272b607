import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import knexFactory, { type Knex } from 'knex'
import { ConfigError } from '../../src/index.js'
import { resolveConfig } from '../../src/relay-api.js'
import { type OrderRow, orderEvent } from '../support/events.js'
import { outboxFor, relaySettings, startRelay } from '../support/relay.js'
import { createMigratedDatabase, queryRows, uniqueName, waitFor } from '../support/stack.js'

let db: Awaited<ReturnType<typeof createMigratedDatabase>>
let knex: Knex
before(async () => {
  db = await createMigratedDatabase('pbretention')
  knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 2 } })
})
after(async () => {
  await knex.destroy()
  await db.drop()
})

const order = (id: number): OrderRow => ({ id, customer: 'c', total_cents: 1, status: 's' })

test('relay retention deletes sent rows older than sentOlderThan on its schedule and keeps the rest', async () => {
  const Event = orderEvent(uniqueName('retention'))
  const outbox = outboxFor([Event])
  await knex.transaction((trx) => outbox.enqueueMany(trx, Event, [order(1), order(2), order(3)]))
  const relay = await startRelay(db.url, [Event], {
    retention: { sentOlderThan: '1h', schedule: '* * * * * *', batchSize: 1 },
  })
  try {
    await waitFor('all sent', async () => {
      const rows = await queryRows<{ n: number }>(
        db.url,
        "select count(*)::int as n from postbox.outbox where status = 'sent'",
      )
      return rows[0]?.n === 3 ? true : undefined
    })
    await queryRows(
      db.url,
      "update postbox.outbox set sent_at = now() - interval '2 hours' where key in ('1', '2')",
    )
    await knex.transaction((trx) => outbox.enqueue(trx, Event, order(4)))
    const left = await waitFor('old sent rows purged', async () => {
      const rows = await queryRows<{ key: string }>(db.url, 'select key from postbox.outbox order by id')
      return rows.length === 2 ? rows : undefined
    })
    assert.deepEqual(
      left.map((r) => r.key),
      ['3', '4'],
    )
  } finally {
    await relay.stop()
  }
})

test('a retention setting that is not a duration or a cron expression is refused at start-up', () => {
  const Event = orderEvent(uniqueName('retention.bad'))
  assert.throws(
    () => resolveConfig(relaySettings(db.url, [Event], { retention: { sentOlderThan: 'a week' } })),
    (error: unknown) => error instanceof ConfigError && /sentOlderThan "a week"/.test(error.message),
  )
  assert.throws(
    () =>
      resolveConfig(
        relaySettings(db.url, [Event], { retention: { sentOlderThan: '7d', schedule: 'often' } }),
      ),
    (error: unknown) => error instanceof ConfigError && /schedule "often"/.test(error.message),
  )
})
