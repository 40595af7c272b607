import { type AvroSchema, defineEvent } from '../../src/index.js'

/** The internal row shape of the example tables used across tests. */
export interface OrderRow {
  id: number
  customer: string
  total_cents: number
  status: string
  internal_note?: string
  version?: number
}

/** Order `id` at `version`, with the customer and total the tests derive from the id. */
export function orderRow(id: number, version = 1): OrderRow {
  return { id, customer: `customer-${id}`, total_cents: id * 100, status: 'new', version }
}

export const orderSchemaV1 = {
  type: 'record',
  name: 'OrderChanged',
  namespace: 'test.orders',
  fields: [
    { name: 'orderId', type: 'string' },
    { name: 'customer', type: 'string' },
    { name: 'totalCents', type: 'long' },
    { name: 'version', type: 'int', default: 0 },
  ],
} as const

/** An order event on its own topic, mapping rows to the external record (internal_note never leaves). */
export function orderEvent(
  topic: string,
  schema: AvroSchema = orderSchemaV1,
  extra: Record<string, unknown> = {},
) {
  return defineEvent({
    type: `order.changed.${topic}`,
    topic,
    key: (o: OrderRow) => String(o.id),
    schema,
    toExternal: (o: OrderRow) => ({
      orderId: String(o.id),
      customer: o.customer,
      totalCents: o.total_cents,
      version: o.version ?? 0,
      ...extra,
    }),
  })
}
