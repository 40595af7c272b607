import type { Knex } from 'knex'
import { createOutbox } from '../../src/index.js'
import { OrderChanged, type OrderRow } from './events.js'

const outbox = createOutbox({ events: [OrderChanged] })

/** A tiny order service: every change writes the row and its event in one transaction. */
export class OrderService {
  constructor(private readonly knex: Knex) {}

  async createTable(): Promise<void> {
    await this.knex.schema.createSchemaIfNotExists('demo')
    await this.knex.schema.withSchema('demo').dropTableIfExists('orders')
    await this.knex.schema.withSchema('demo').createTable('orders', (t) => {
      t.integer('id').primary()
      t.integer('customer_id').notNullable()
      t.text('status').notNullable()
      t.bigInteger('total_cents').notNullable()
      t.text('currency').notNullable()
      t.text('internal_notes')
    })
  }

  async place(order: OrderRow): Promise<void> {
    await this.knex.transaction(async (trx) => {
      await trx.withSchema('demo').table('orders').insert(order)
      await outbox.enqueue(trx, OrderChanged, order)
    })
  }

  async setStatus(id: number, status: OrderRow['status']): Promise<void> {
    await this.knex.transaction(async (trx) => {
      const [row] = await trx
        .withSchema('demo')
        .table('orders')
        .where({ id })
        .update({ status })
        .returning('*')
      if (row === undefined) throw new Error(`order ${id} does not exist`)
      await outbox.enqueue(trx, OrderChanged, { ...(row as OrderRow), total_cents: Number(row.total_cents) })
    })
  }

  async remove(id: number): Promise<void> {
    await this.knex.transaction(async (trx) => {
      await trx.withSchema('demo').table('orders').where({ id }).delete()
      await outbox.tombstone(trx, OrderChanged, String(id))
    })
  }
}
