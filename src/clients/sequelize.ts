import type { SqlExecutor } from '../db/executor.js'
import { ConfigError } from '../errors.js'
import { hasMethod } from './rows.js'

/** The part of a Sequelize transaction (managed or unmanaged) Postbox uses. */
export interface SequelizeTransaction {
  commit(): Promise<void>
  rollback(): Promise<void>
  afterCommit(fn: never): void
}

interface SequelizeLike {
  query(sql: string, options: Record<string, unknown>): Promise<unknown>
}

function isTransaction(value: unknown): boolean {
  return (
    hasMethod(value, 'commit') &&
    hasMethod(value, 'rollback') &&
    hasMethod((value as { sequelize?: unknown }).sequelize, 'query')
  )
}

/** The Sequelize instance itself: a query() that runs outside any transaction. */
function isInstance(value: unknown): boolean {
  return hasMethod(value, 'query') && hasMethod(value, 'transaction') && hasMethod(value, 'getQueryInterface')
}

export function isSequelize(value: unknown): boolean {
  return isTransaction(value) || isInstance(value)
}

export function sequelizeExecutor(handle: unknown): SqlExecutor {
  const finished = (handle as { finished?: unknown }).finished
  if (!isTransaction(handle) || finished !== undefined) {
    const what = isInstance(handle)
      ? 'the Sequelize instance'
      : `a Sequelize transaction already finished (${String(finished)})`
    throw new ConfigError(
      `got ${what}, so the outbox row would commit on its own: pass the open transaction, t of sequelize.transaction(async (t) => … enqueue(t, …)) or of await sequelize.transaction()`,
    )
  }
  const transaction = handle as SequelizeTransaction
  // Sequelize's types leave out the instance a transaction belongs to; it is there at run time.
  const sequelize = (handle as { sequelize: SequelizeLike }).sequelize
  return {
    async query<Row>(text: string, values: readonly unknown[]) {
      const rows = await sequelize.query(text, { bind: [...values], transaction, type: 'SELECT', raw: true })
      return rows as Row[]
    },
  }
}
