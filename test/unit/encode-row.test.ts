import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createCatalog } from '../../src/catalog/catalog.js'
import { defineEvent } from '../../src/catalog/define-event.js'
import { UnpublishableError } from '../../src/errors.js'
import { CONTENT_TYPE, encodeRow } from '../../src/relay/encode-row.js'
import { compileSchema, unframe } from '../../src/schema/codec.js'
import { type OrderRow, orderEvent, orderSchemaV1 } from '../support/events.js'
import { storedRow } from './relay-fakes.js'

const Orders = orderEvent('orders')
const Poison = defineEvent({
  type: 'order.poison',
  topic: 'orders',
  key: (o: OrderRow) => String(o.id),
  schema: orderSchemaV1,
  toExternal: (): { orderId: string; customer: string; totalCents: number; version: number } => {
    throw new Error('poison pill')
  },
})
const catalog = createCatalog([Orders, Poison])
const ids = new Map([
  [Orders.type, { value: 41, key: undefined }],
  [Poison.type, { value: 41, key: undefined }],
])
const snapshot: OrderRow = { id: 7, customer: 'ada', total_cents: 1250, status: 'new', internal_note: 'x' }

describe('encodeRow', () => {
  test('a row becomes a Confluent frame of the mapped record, keyed, with the event headers', () => {
    const row = storedRow({
      event_type: Orders.type,
      topic: 'orders',
      key: '7',
      payload: snapshot,
      headers: { tenant: 't1' },
    })
    const message = encodeRow(row, catalog, ids, 1_000_000)
    assert.equal(message.topic, 'orders')
    assert.equal(message.key.toString(), '7')
    assert.ok(message.value)
    const { schemaId, body } = unframe(message.value)
    assert.equal(schemaId, 41)
    assert.deepEqual(
      { ...(compileSchema(orderSchemaV1).decode(body) as object) },
      {
        orderId: '7',
        customer: 'ada',
        totalCents: 1250,
        version: 0,
      },
    )
    assert.deepEqual(message.headers, {
      tenant: 't1',
      'event-id': row.event_id,
      'event-type': Orders.type,
      'outbox-id': row.id,
      'created-at': row.created_at.toISOString(),
      'content-type': CONTENT_TYPE,
    })
  })

  test('a row without payload is a tombstone without content-type', () => {
    const message = encodeRow(
      storedRow({ event_type: Orders.type, topic: 'orders', key: '7' }),
      catalog,
      ids,
      1_000_000,
    )
    assert.equal(message.value, null)
    assert.equal(message.headers['content-type'], undefined)
  })

  test('a row whose mapping throws, an unknown event type and an oversized value are unpublishable', () => {
    const cases = [
      storedRow({ event_type: Poison.type, topic: 'orders', key: '7', payload: snapshot }),
      storedRow({ event_type: 'order.deleted-from-code', topic: 'orders', key: '7', payload: snapshot }),
    ]
    for (const row of cases) assert.throws(() => encodeRow(row, catalog, ids, 1_000_000), UnpublishableError)
    const big = storedRow({ event_type: Orders.type, topic: 'orders', key: '7', payload: snapshot })
    assert.throws(() => encodeRow(big, catalog, ids, 10), /over maxMessageBytes 10/)
  })
})
