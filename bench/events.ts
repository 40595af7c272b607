// The benchmark's event: an order of ~300 bytes in Avro, keyed over 1,000 customers.
import { defineEvent } from './relay-api.js'

export const KEYS = 1000

export interface OrderRow {
  id: number
  customer_id: number
  status: string
  currency: string
  total_cents: number
  placed_at: number
  ship_to: { street: string; city: string; postcode: string; country: string }
  lines: { sku: string; quantity: number; price_cents: number }[]
  note: string
}

const schema = {
  type: 'record',
  name: 'BenchOrderPlaced',
  namespace: 'postbox.bench',
  fields: [
    { name: 'orderId', type: 'string' },
    { name: 'customerId', type: 'string' },
    { name: 'status', type: 'string' },
    { name: 'currency', type: 'string' },
    { name: 'totalCents', type: 'long' },
    { name: 'placedAtMillis', type: 'long' },
    {
      name: 'shipTo',
      type: {
        type: 'record',
        name: 'Address',
        fields: [
          { name: 'street', type: 'string' },
          { name: 'city', type: 'string' },
          { name: 'postcode', type: 'string' },
          { name: 'country', type: 'string' },
        ],
      },
    },
    {
      name: 'lines',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'Line',
          fields: [
            { name: 'sku', type: 'string' },
            { name: 'quantity', type: 'int' },
            { name: 'priceCents', type: 'long' },
          ],
        },
      },
    },
    { name: 'note', type: 'string' },
  ],
}

export function toExternal(r: OrderRow) {
  return {
    orderId: `order-${r.id}`,
    customerId: `customer-${r.customer_id}`,
    status: r.status,
    currency: r.currency,
    totalCents: r.total_cents,
    placedAtMillis: r.placed_at,
    shipTo: r.ship_to,
    lines: r.lines.map((l) => ({ sku: l.sku, quantity: l.quantity, priceCents: l.price_cents })),
    note: r.note,
  }
}

/** The order event on `topic`; `onMap` sees every row the definition maps (the relay's side uses it). */
export function orderEvent(topic: string, onMap?: (row: OrderRow) => void) {
  return defineEvent({
    type: `bench.order.${topic}`,
    topic,
    key: (r: OrderRow) => `customer-${r.customer_id}`,
    schema,
    toExternal: (r: OrderRow) => {
      onMap?.(r)
      return toExternal(r)
    },
  })
}

const NOTE =
  'Leave the parcel with the neighbour at number 12 if nobody answers; call first. Fragile: glassware inside, keep this side up please. '

export function orderRow(id: number): OrderRow {
  return {
    id,
    customer_id: id % KEYS,
    status: 'placed',
    currency: 'EUR',
    total_cents: 1000 + (id % 50_000),
    placed_at: 1_760_000_000_000 + id,
    ship_to: {
      street: `${id % 997} Long Avenue of the Republic`,
      city: 'Amsterdam',
      postcode: `${1000 + (id % 9000)} AB`,
      country: 'NL',
    },
    lines: [0, 1, 2].map((n) => ({
      sku: `SKU-${(id + n) % 10_000}-XL-BLUE`,
      quantity: 1 + n,
      price_cents: 499 + n,
    })),
    note: NOTE,
  }
}

export function orderRows(from: number, count: number): OrderRow[] {
  return Array.from({ length: count }, (_, i) => orderRow(from + i))
}
