import type { SqlExecutor } from '../db/executor.js'
import { ConfigError } from '../errors.js'
import { rowsOf } from './rows.js'

/** The part of a Drizzle transaction (`db.transaction(async (tx) => …)`, PostgreSQL) Postbox uses. */
export interface DrizzleTransaction {
  execute(query: never): PromiseLike<unknown>
  rollback(): never
}

/** Drizzle names each of its classes with this symbol; its own `is()` walks the same chain. */
const ENTITY_KIND = Symbol.for('drizzle:entityKind')

function entityKinds(value: unknown): string[] {
  const kinds: string[] = []
  if (value === null || typeof value !== 'object') return kinds
  for (let proto = Object.getPrototypeOf(value); proto !== null; proto = Object.getPrototypeOf(proto)) {
    const kind = (proto.constructor as Record<symbol, unknown> | undefined)?.[ENTITY_KIND]
    if (typeof kind === 'string') kinds.push(kind)
  }
  return kinds
}

/** A Drizzle PostgreSQL database or transaction. */
export function isDrizzle(value: unknown): boolean {
  return entityKinds(value).includes('PgDatabase')
}

/**
 * Runs Postbox's SQL through the transaction's public execute(), which takes any object with
 * getSQL(); the query it returns carries the `$n` text and its values as Drizzle's sql`` would.
 */
export function drizzleExecutor(db: unknown): SqlExecutor {
  if (!entityKinds(db).includes('PgTransaction')) {
    throw new ConfigError(
      'got a Drizzle database outside a transaction, so the outbox row would commit on its own: pass the tx of db.transaction(async (tx) => … enqueue(tx, …))',
    )
  }
  const tx = db as DrizzleTransaction
  return {
    async query<Row>(text: string, values: readonly unknown[]) {
      const query = { getSQL: () => ({ toQuery: () => ({ sql: text, params: [...values] }) }) }
      return rowsOf<Row>(await tx.execute(query as never), 'Drizzle')
    },
  }
}
