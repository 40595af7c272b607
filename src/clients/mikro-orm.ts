import { ConfigError } from '../errors.js'
import { hasMethod } from './rows.js'

/** The part of a MikroORM EntityManager (SQL drivers) Postbox uses. */
export interface MikroOrmEntityManager {
  isInTransaction(): boolean
  getTransactionContext(): unknown
}

export function isMikroOrm(value: unknown): boolean {
  return hasMethod(value, 'isInTransaction') && hasMethod(value, 'getTransactionContext')
}

/**
 * The connection of the EntityManager's transaction: with MikroORM's SQL drivers, a knex
 * transaction, which binds parameters (MikroORM's own execute() inlines them into the text).
 */
export function mikroOrmTransactionContext(handle: unknown): unknown {
  const em = handle as MikroOrmEntityManager
  if (!em.isInTransaction()) {
    throw new ConfigError(
      'got a MikroORM EntityManager outside a transaction, so the outbox row would commit on its own: pass the em of em.transactional(async (em) => … enqueue(em, …)) or after em.begin()',
    )
  }
  return em.getTransactionContext()
}
