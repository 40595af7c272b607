import type { Knex } from 'knex'
import type pg from 'pg'
import { ConfigError } from '../errors.js'

/** What the caller hands enqueue(): a knex transaction, or a pg client inside BEGIN/COMMIT. */
export type SqlClient = Knex.Transaction | Knex | pg.ClientBase | pg.Pool

/** The one method Postbox needs from a connection: run parameterised SQL ($1, $2 …), get rows. */
export interface SqlExecutor {
  query<Row>(text: string, values: readonly unknown[]): Promise<Row[]>
}

function isKnex(client: SqlClient): client is Knex | Knex.Transaction {
  return typeof client === 'function' && 'raw' in client
}

/** Adapts the caller's connection, so Postbox joins the caller's transaction. */
export function executorFor(client: SqlClient): SqlExecutor {
  if (isKnex(client)) {
    return {
      async query<Row>(text: string, values: readonly unknown[]) {
        // knex binds with `?`; reorder values so `$n` placeholders keep their meaning.
        const bindings: unknown[] = []
        const knexText = text.replace(/\$(\d+)/g, (_, n: string) => {
          bindings.push(values[Number(n) - 1])
          return '?'
        })
        const result = (await client.raw(knexText, bindings as Knex.RawBinding[])) as { rows: Row[] }
        return result.rows
      },
    }
  }
  if (client !== null && typeof client === 'object' && typeof client.query === 'function') {
    return {
      async query<Row>(text: string, values: readonly unknown[]) {
        const result = await client.query(text, values as unknown[])
        return result.rows as Row[]
      },
    }
  }
  throw new ConfigError('expected a knex transaction or a pg client as the first argument')
}
