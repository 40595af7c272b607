import { type ControlledTransaction, Kysely, PostgresDialect, type Transaction } from 'kysely'
import pg from 'pg'
import type { SqlClient } from '../../../src/index.js'
import { describeClient } from './conformance.js'

interface Database {
  orders: { id: number; customer: string; total_cents: number }
}

const connect = (url: string) =>
  new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 3 }) }),
  })

describeClient<Transaction<Database>>('Kysely', async (url) => {
  const db = connect(url)
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

describeClient<ControlledTransaction<Database>>('Kysely (startTransaction)', async (url) => {
  const db = connect(url)
  return {
    async transaction(work) {
      const trx = await db.startTransaction().execute()
      try {
        const result = await work(trx)
        await trx.commit().execute()
        return result
      } catch (error) {
        await trx.rollback().execute()
        throw error
      }
    },
    insertOrder: async (trx, id) => {
      await trx.insertInto('orders').values({ id, customer: 'c', total_cents: 1 }).execute()
    },
    outside: async () => ({ 'the Kysely instance': db }),
    close: () => db.destroy(),
  }
})

export function refusedAtCompileTime(db: Kysely<Database>): SqlClient[] {
  // @ts-expect-error the Kysely instance runs each statement outside the caller's transaction
  return [db]
}
