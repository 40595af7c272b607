import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createCatalog } from '../../src/catalog/catalog.js'
import { UnpublishableError } from '../../src/errors.js'
import { encodeRow } from '../../src/relay/encode-row.js'
import { claimWasFull } from '../../src/relay/pipeline.js'
import { type OrderRow, orderEvent } from '../support/events.js'
import { storedRow } from './relay-fakes.js'

const Orders = orderEvent('orders')
const catalog = createCatalog([Orders])
const ids = new Map([[Orders.type, { value: 41, key: undefined }]])
const snapshot: OrderRow = { id: 7, customer: 'ada', total_cents: 1250, status: 'new' }

function row(key: string, headers: Record<string, string> = {}, payload: unknown = snapshot) {
  return storedRow({ event_type: Orders.type, topic: 'orders', key, payload, headers })
}

describe('the relay counts a record as enqueue does: value + key + the event headers', () => {
  const plain = encodeRow(row('7'), catalog, ids, 1_000_000)
  const valueBytes = plain.value?.length ?? 0

  test('a record whose value fits but whose key and headers push it over maxMessageBytes is unpublishable', () => {
    const headers = { note: 'x'.repeat(50) }
    const total = valueBytes + 1 + 'note'.length + 50
    assert.ok(encodeRow(row('7', headers), catalog, ids, total))
    assert.throws(
      () => encodeRow(row('7', headers), catalog, ids, total - 1),
      (error) =>
        error instanceof UnpublishableError &&
        error.message.includes(`the record is ${total} bytes (value ${valueBytes}, key 1, headers 54)`),
    )
  })

  test('a tombstone counts its key and headers', () => {
    const key = 'k'.repeat(40)
    assert.ok(encodeRow(row(key, {}, null), catalog, ids, 40))
    assert.throws(() => encodeRow(row(key, {}, null), catalog, ids, 39), UnpublishableError)
  })
})

describe('claimWasFull', () => {
  const sized = (bytes: number) => ({ ...row('1'), stored_bytes: bytes })

  test('a claim at its row bound is full', () => {
    assert.equal(claimWasFull([sized(1), sized(1)], 2, 1000), true)
    assert.equal(claimWasFull([sized(1)], 2, 1000), false)
  })

  test('a claim that another row of the same size would take over its byte bound is full', () => {
    assert.equal(claimWasFull([sized(400), sized(400)], 10, 1000), true)
    assert.equal(claimWasFull([sized(300), sized(300)], 10, 1000), false)
    assert.equal(claimWasFull([sized(5000)], 10, 1000), true, 'one row over the bound')
    assert.equal(claimWasFull([], 10, 1000), false)
  })
})
