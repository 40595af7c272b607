import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { ConfigError, type SqlClient, ValidationError } from '../../../src/index.js'
import { waitForPublished } from '../../../src/testing.js'
import { type OrderRow, orderEvent } from '../../support/events.js'
import { outboxFor, startRelay } from '../../support/relay.js'
import { createMigratedDatabase, queryRows, stack, uniqueName } from '../../support/stack.js'

/** What each client's test file provides: its own transaction API, driven the way its users write it. */
export interface ClientHarness<Tx> {
  /** Runs `work` inside the client's own transaction: commits when it resolves, rolls back when it throws. */
  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T>
  /** Inserts the domain row with the client's own API, inside `tx`. */
  insertOrder(tx: Tx, id: number): Promise<void>
  /**
   * Handles of the client that are not inside a transaction, each named for the assertion
   * message. Absent where Postbox cannot tell (the hand-made adapter: the caller answers for it).
   */
  outside?(): Promise<Record<string, unknown>>
  close(): Promise<void>
}

const order = (id: number, customer = `customer ${id}`): OrderRow => ({
  id,
  customer,
  total_cents: id * 100,
  status: 'new',
})

/** The same specification for every client: a client passes when all of it holds. */
/** `Tx extends SqlClient`: each client's transaction type is accepted by enqueue as it is, without a cast. */
export function describeClient<Tx extends SqlClient>(
  name: string,
  connect: (url: string) => Promise<ClientHarness<Tx>>,
  { refusesOutsideTransaction = true } = {},
) {
  describe(`enqueue through ${name}`, () => {
    let db: Awaited<ReturnType<typeof createMigratedDatabase>>
    let client: ClientHarness<Tx>
    const topic = uniqueName(`clients.${name.replace(/\W/g, '')}`)
    const OrderChanged = orderEvent(topic)
    const outbox = outboxFor([OrderChanged])

    before(async () => {
      db = await createMigratedDatabase('pbclient')
      await queryRows(db.url, 'create table orders (id int primary key, customer text, total_cents int)')
      client = await connect(db.url)
    })
    after(async () => {
      await client?.close()
      await db?.drop()
    })

    const outboxKeys = async () =>
      (await queryRows<{ key: string }>(db.url, 'select key from postbox.outbox order by id')).map(
        (r) => r.key,
      )
    const orderIds = async () =>
      (await queryRows<{ id: number }>(db.url, 'select id from orders order by id')).map((r) => r.id)

    test('enqueue, enqueueMany and tombstone commit with the domain rows, and the relay publishes them', async () => {
      const results = await client.transaction(async (tx) => {
        await client.insertOrder(tx, 1)
        const one = await outbox.enqueue(tx, OrderChanged, order(1, 'ada'))
        const many = await outbox.enqueueMany(tx, OrderChanged, [order(2), order(3)])
        const gone = await outbox.tombstone(tx, OrderChanged, '9')
        return [one, ...many, gone]
      })
      assert.equal(results.length, 4)
      assert.deepEqual(await orderIds(), [1])
      assert.deepEqual(await outboxKeys(), ['1', '2', '3', '9'])
      assert.deepEqual(
        results.map((r) => r.id),
        (await queryRows<{ id: string }>(db.url, 'select id::text from postbox.outbox order by id')).map(
          (r) => r.id,
        ),
        'enqueue returns the ids of the rows it wrote',
      )

      const relay = await startRelay(db.url, [OrderChanged])
      try {
        const published = await waitForPublished(stack, topic, { count: 4, timeoutMs: 60_000 })
        const byKey = new Map(published.map((e) => [e.key, e.value]))
        assert.deepEqual(byKey.get('1'), { orderId: '1', customer: 'ada', totalCents: 100, version: 0 })
        assert.deepEqual(byKey.get('3'), {
          orderId: '3',
          customer: 'customer 3',
          totalCents: 300,
          version: 0,
        })
        assert.equal(byKey.get('9'), null, 'the tombstone has a null value')
        assert.deepEqual(
          published.map((e) => e.headers['event-id']?.toString()).sort(),
          results.map((r) => r.eventId).sort(),
        )
      } finally {
        await relay.stop()
      }
    })

    test('a transaction that rolls back leaves neither the domain row nor the outbox row', async () => {
      const before = await outboxKeys()
      await assert.rejects(
        client.transaction(async (tx) => {
          await client.insertOrder(tx, 20)
          await outbox.enqueue(tx, OrderChanged, order(20))
          throw new Error('business rule failed')
        }),
        /business rule failed/,
      )
      assert.deepEqual(await outboxKeys(), before)
      assert.ok(!(await orderIds()).includes(20))
    })

    test("a ValidationError from enqueue rolls the caller's transaction back", async () => {
      const before = await outboxKeys()
      const invalid = { ...order(21), total_cents: 'a lot' } as unknown as OrderRow
      await assert.rejects(
        client.transaction(async (tx) => {
          await client.insertOrder(tx, 21)
          await outbox.enqueue(tx, OrderChanged, invalid)
        }),
        (error: unknown) => error instanceof ValidationError && /totalCents/.test(error.message),
      )
      assert.deepEqual(await outboxKeys(), before)
      assert.ok(!(await orderIds()).includes(21))
    })

    if (!refusesOutsideTransaction) return
    test('a handle that is not inside a transaction is refused with a ConfigError, and nothing is written', async () => {
      const before = await outboxKeys()
      const handles = (await client.outside?.()) ?? {}
      assert.ok(Object.keys(handles).length > 0)
      for (const [what, handle] of Object.entries(handles)) {
        await assert.rejects(
          outbox.enqueue(handle as SqlClient, OrderChanged, order(22)),
          (error: unknown) => error instanceof ConfigError && /transaction/.test(error.message),
          what,
        )
      }
      assert.deepEqual(await outboxKeys(), before)
    })
  })
}
