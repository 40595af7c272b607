import postgres from 'postgres'
import type { SqlClient } from '../../../src/index.js'
import { describeClient } from './conformance.js'

describeClient<postgres.TransactionSql>('postgres.js', async (url) => {
  const sql = postgres(url, { max: 3, onnotice: () => {} })
  const reserved: postgres.ReservedSql[] = []
  return {
    transaction: (work) => sql.begin((tx) => work(tx)) as never,
    insertOrder: async (tx, id) => {
      await tx`insert into orders (id, customer, total_cents) values (${id}, 'c', 1)`
    },
    async outside() {
      reserved.push(await sql.reserve())
      return { 'the root sql instance': sql, 'a reserved connection': reserved[0] }
    },
    async close() {
      for (const connection of reserved) connection.release()
      await sql.end()
    },
  }
})

export function refusedAtCompileTime(sql: postgres.Sql): SqlClient[] {
  // @ts-expect-error the root sql runs each statement outside the caller's transaction
  return [sql]
}
