import pg from 'pg'
import { pgConnectionOptions } from '../connect/postgres-tls.js'
import { classified } from './errors.js'
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

/** Queries, BEGIN and COMMIT fail classified (UnavailableError or DatabaseError); `work`'s own errors pass unchanged. */
export async function openSession(connectionString: string, applicationName: string): Promise<Session> {
  const client = new pg.Client({
    ...pgConnectionOptions(connectionString),
    application_name: applicationName,
  })
  // A connection lost between commands is reported by the next command; it must not crash the process.
  client.on('error', () => {})
  await classified(() => client.connect())
  const run = (text: string) => classified(() => client.query(text))
  return {
    query: <Row>(text: string, values: readonly unknown[]) =>
      classified(async () => (await client.query(text, values as unknown[])).rows as Row[]),
    async transaction(work) {
      await run('begin')
      try {
        const result = await work(client)
        await run('commit')
        return result
      } catch (error) {
        await run('rollback').catch(() => {})
        throw error
      }
    },
    close: () => classified(() => client.end()),
  }
}
