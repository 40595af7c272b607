import pg from 'pg'
import type { QueryableClient } from '../../../src/index.js'
import { inTransaction } from '../../support/transaction.js'
import { describeClient } from './conformance.js'

/** A hand-made adapter over a pg client inside BEGIN, in each of the two documented result shapes. */
function describeAdapter(name: string, adapt: (client: pg.PoolClient) => QueryableClient) {
  describeClient<QueryableClient>(
    name,
    async (url) => {
      const pool = new pg.Pool({ connectionString: url, max: 3 })
      const clients = new WeakMap<QueryableClient, pg.PoolClient>()
      return {
        transaction: (work) =>
          inTransaction(pool, (client) => {
            const adapter = adapt(client)
            clients.set(adapter, client)
            return work(adapter)
          }),
        insertOrder: async (adapter, id) => {
          const client = clients.get(adapter)
          if (client === undefined) throw new Error('not an adapter of this test')
          await client.query('insert into orders values ($1, $2, $3)', [id, 'c', 1])
        },
        close: () => pool.end(),
      }
    },
    { refusesOutsideTransaction: false },
  )
}

describeAdapter('a { query } adapter resolving to rows', (client) => ({
  query: async (text, params) => (await client.query(text, params)).rows,
}))

describeAdapter('a { query } adapter resolving to { rows }', (client) => ({
  query: (text, params) => client.query(text, params),
}))
