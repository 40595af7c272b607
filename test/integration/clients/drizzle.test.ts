import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres'
import { integer, pgTable, text } from 'drizzle-orm/pg-core'
import pg from 'pg'
import { describeClient } from './conformance.js'

const orders = pgTable('orders', {
  id: integer('id').primaryKey(),
  customer: text('customer'),
  totalCents: integer('total_cents'),
})

type Tx = Parameters<Parameters<NodePgDatabase['transaction']>[0]>[0]

describeClient<Tx>('Drizzle', async (url) => {
  const pool = new pg.Pool({ connectionString: url, max: 3 })
  const db = drizzle(pool)
  return {
    transaction: (work) => db.transaction(work),
    insertOrder: async (tx, id) => {
      await tx.insert(orders).values({ id, customer: 'c', totalCents: 1 })
    },
    outside: async () => ({ 'the Drizzle database': db }),
    close: () => pool.end(),
  }
})
