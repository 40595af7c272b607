import { Kysely, PostgresDialect, type Transaction } from 'kysely'
import pg from 'pg'
import type { SqlClient } from '../../../src/index.js'
import { describeClient } from './conformance.js'

interface Database {
  orders: { id: number; customer: string; total_cents: number }
}

describeClient<Transaction<Database>>('Kysely', async (url) => {
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 3 }) }),
  })
  return {
    transaction: (work) => db.transaction().execute(work),
    insertOrder: async (trx, id) => {
      await trx.insertInto('orders').values({ id, customer: 'c', total_cents: 1 }).execute()
    },
    outside: async () => ({
      'the Kysely instance': db,
      'a single connection': await db.connection().execute(async (conn) => conn),
    }),
    close: () => db.destroy(),
  }
})

export function refusedAtCompileTime(db: Kysely<Database>): SqlClient[] {
  // @ts-expect-error the Kysely instance runs each statement outside the caller's transaction
  return [db]
}
