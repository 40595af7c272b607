import { readFileSync } from 'node:fs'
import { defineEvent } from '../../src/index.js'

/** A row of the service's own `orders` table: consumers never see this shape. */
export interface OrderRow {
  id: number
  customer_id: number
  status: 'placed' | 'paid' | 'shipped'
  total_cents: number
  currency: string
  internal_notes: string | null
}

const orderChangedSchema = JSON.parse(
  readFileSync(new URL('./schemas/order-changed.avsc', import.meta.url), 'utf8'),
)

export const OrderChanged = defineEvent({
  type: 'order.changed',
  topic: 'demo.orders.v1',
  key: (o: OrderRow) => String(o.id),
  schema: orderChangedSchema,
  toExternal: (o: OrderRow) => ({
    orderId: String(o.id),
    customerId: `customer-${o.customer_id}`,
    status: o.status.toUpperCase(),
    totalCents: o.total_cents,
    currency: o.currency,
  }),
})
