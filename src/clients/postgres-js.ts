import type { SqlExecutor } from '../db/executor.js'
import { ConfigError } from '../errors.js'
import { hasMethod } from './rows.js'

/** The part of a postgres.js transaction (the `sql` of `sql.begin(async (sql) => …)`) Postbox uses. */
export interface PostgresJsTransaction {
  (...args: never[]): unknown
  unsafe(query: string, parameters?: never[]): PromiseLike<readonly object[]>
  typed(value: never, oid: number): unknown
  savepoint(...args: never[]): unknown
}

const TEXT_OID = 25

/** A postgres.js `sql` instance is a function with unsafe() and typed(). */
export function isPostgresJs(value: unknown): boolean {
  return typeof value === 'function' && hasMethod(value, 'unsafe') && hasMethod(value, 'typed')
}

/**
 * Only the `sql` of sql.begin() has savepoint(): the root instance runs each statement on any
 * connection, and a reserved one says nothing of whether BEGIN ran on it.
 */
export function postgresJsExecutor(sql: unknown): SqlExecutor {
  if (!hasMethod(sql, 'savepoint')) {
    throw new ConfigError(
      'got a postgres.js sql that is not a transaction, so the outbox row would commit on its own: pass the sql of sql.begin(async (sql) => … enqueue(sql, …))',
    )
  }
  const tx = sql as PostgresJsTransaction
  return {
    async query<Row>(text: string, values: readonly unknown[]) {
      // postgres.js serialises a parameter by the type the server infers for it, and would
      // JSON-encode the JSON text meant for `$1::jsonb` a second time: strings go as text.
      const parameters = values.map((v) => (typeof v === 'string' ? tx.typed(v as never, TEXT_OID) : v))
      return [...(await tx.unsafe(text, parameters as never[]))] as Row[]
    },
  }
}
