import type { SqlExecutor } from '../db/executor.js'
import { type QueryResultRows, rowsOf } from './rows.js'

/**
 * Any other connection, adapted by hand (like pg-boss's `executeSql`): Postbox calls `query`
 * with SQL using `$1`, `$2` … placeholders and the values in that order; it resolves to the
 * result rows, or to an object holding them in `rows`. The caller answers for running it on
 * the connection of its open transaction: Postbox cannot tell, and a `query` that autocommits
 * publishes events of work that may still roll back.
 */
export interface QueryableClient {
  query(text: string, params: unknown[]): PromiseLike<QueryResultRows>
  /** A pg.Pool (which counts its clients) runs each statement in a transaction of its own. */
  readonly totalCount?: never
  /** Nor the TypeORM DataSource: pass the manager of dataSource.transaction(). */
  readonly createQueryRunner?: never
  /** Nor the Sequelize instance: pass the transaction. */
  readonly getQueryInterface?: never
}

export function queryableExecutor(client: QueryableClient, name = 'the client'): SqlExecutor {
  return {
    async query<Row>(text: string, values: readonly unknown[]) {
      return rowsOf<Row>(await client.query(text, [...values]), name)
    },
  }
}
