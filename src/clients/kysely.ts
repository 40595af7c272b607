import type { SqlExecutor } from '../db/executor.js'
import { ConfigError } from '../errors.js'
import { hasMethod } from './rows.js'

/** The part of a Kysely transaction (`db.transaction().execute(async (trx) => …)`) Postbox uses. */
export interface KyselyTransaction {
  readonly isTransaction: true
  executeQuery(query: never): Promise<{ rows: unknown[] }>
}

/** A Kysely instance, transaction or not, has executeQuery() and says whether it is a transaction. */
export function isKysely(value: unknown): boolean {
  return (
    hasMethod(value, 'executeQuery') &&
    typeof (value as { isTransaction?: unknown }).isTransaction === 'boolean'
  )
}

let queries = 0

/** Runs Postbox's SQL as Kysely's CompiledQuery.raw(text, values) would, without loading Kysely. */
export function kyselyExecutor(db: unknown): SqlExecutor {
  const trx = db as KyselyTransaction
  if (trx.isTransaction !== true) {
    throw new ConfigError(
      'got a Kysely instance outside a transaction, so the outbox row would commit on its own: pass the trx of db.transaction().execute(async (trx) => … enqueue(trx, …))',
    )
  }
  return {
    async query<Row>(text: string, values: readonly unknown[]) {
      queries += 1
      const compiled = {
        sql: text,
        parameters: Object.freeze([...values]),
        query: { kind: 'RawNode', sqlFragments: [text], parameters: [] },
        queryId: { queryId: `postbox-${queries}` },
      }
      const result = await trx.executeQuery(compiled as never)
      return result.rows as Row[]
    },
  }
}
