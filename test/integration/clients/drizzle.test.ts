import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres'
import { integer, pgTable, text } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePostgresJs, type PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import pg from 'pg'
import postgres from 'postgres'
import type { SqlClient } from '../../../src/index.js'
import { describeClient } from './conformance.js'

const orders = pgTable('orders', {
  id: integer('id').primaryKey(),
  customer: text('customer'),
  totalCents: integer('total_cents'),
})

type NodePgTx = Parameters<Parameters<NodePgDatabase['transaction']>[0]>[0]
type PostgresJsTx = Parameters<Parameters<PostgresJsDatabase['transaction']>[0]>[0]

describeClient<NodePgTx>('Drizzle (node-postgres)', async (url) => {
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

describeClient<PostgresJsTx>('Drizzle (postgres.js)', async (url) => {
  const sql = postgres(url, { max: 3, onnotice: () => {} })
  const db = drizzlePostgresJs(sql)
  return {
    transaction: (work) => db.transaction(work),
    insertOrder: async (tx, id) => {
      await tx.insert(orders).values({ id, customer: 'c', totalCents: 1 })
    },
    outside: async () => ({ 'the Drizzle database': db }),
    close: () => sql.end(),
  }
})

export function refusedAtCompileTime(db: NodePgDatabase, pool: pg.Pool): SqlClient[] {
  // @ts-expect-error the Drizzle database runs each statement outside the caller's transaction
  const database: SqlClient = db
  // @ts-expect-error a pg.Pool runs each statement outside the caller's transaction
  const poolOfConnections: SqlClient = pool
  return [database, poolOfConnections]
}
