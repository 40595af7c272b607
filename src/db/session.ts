import pg from 'pg'
import { pgConnectionOptions } from '../connect/postgres-tls.js'
import type { SqlClient, SqlExecutor } from './executor.js'

/** One dedicated connection for an operator command that runs its own short transactions. */
export interface Session extends SqlExecutor {
  /**
   * Runs `work` inside BEGIN … COMMIT on this connection, ROLLBACK when it throws. `client` is the
   * same connection as a SqlClient, so enqueue() joins the transaction.
   */
  transaction<T>(work: (client: SqlClient) => Promise<T>): Promise<T>
  close(): Promise<void>
}

export async function openSession(connectionString: string, applicationName: string): Promise<Session> {
  const client = new pg.Client({
    ...pgConnectionOptions(connectionString),
    application_name: applicationName,
  })
  await client.connect()
  return {
    async query<Row>(text: string, values: readonly unknown[]) {
      return (await client.query(text, values as unknown[])).rows as Row[]
    },
    async transaction(work) {
      await client.query('begin')
      try {
        const result = await work(client)
        await client.query('commit')
        return result
      } catch (error) {
        await client.query('rollback').catch(() => {})
        throw error
      }
    },
    close: () => client.end(),
  }
}
