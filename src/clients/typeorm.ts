import type { SqlExecutor } from '../db/executor.js'
import { ConfigError } from '../errors.js'
import { hasMethod } from './rows.js'

/** The part of a TypeORM QueryRunner Postbox uses. */
export interface TypeOrmQueryRunner {
  readonly isTransactionActive: boolean
  query(query: string, parameters: unknown[], useStructuredResult: true): Promise<{ records: unknown[] }>
}

/** A TypeORM EntityManager of `dataSource.transaction(async (manager) => …)`, or its QueryRunner after startTransaction(). */
export type TypeOrmTransaction = { readonly queryRunner?: TypeOrmQueryRunner } | TypeOrmQueryRunner

/** TypeORM marks its EntityManager and DataSource with an `@instanceof` symbol. */
function typeOrmKind(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return undefined
  return (value as { '@instanceof'?: symbol })['@instanceof']?.description
}

function isQueryRunner(value: unknown): value is TypeOrmQueryRunner {
  return (
    hasMethod(value, 'query') &&
    hasMethod(value, 'startTransaction') &&
    typeof (value as { isTransactionActive?: unknown }).isTransactionActive === 'boolean'
  )
}

export function isTypeOrm(value: unknown): boolean {
  const kind = typeOrmKind(value)
  return kind === 'EntityManager' || kind === 'DataSource' || isQueryRunner(value)
}

const PASS_INSTEAD =
  'pass the manager of dataSource.transaction(async (manager) => … enqueue(manager, …)), or a QueryRunner after startTransaction()'

export function typeOrmExecutor(handle: unknown): SqlExecutor {
  const runner =
    typeOrmKind(handle) === 'EntityManager' ? (handle as { queryRunner?: unknown }).queryRunner : handle
  if (!isQueryRunner(runner) || !runner.isTransactionActive) {
    throw new ConfigError(
      `got a TypeORM ${typeOrmKind(handle) ?? 'QueryRunner'} outside a transaction, so the outbox row would commit on its own: ${PASS_INSTEAD}`,
    )
  }
  return {
    async query<Row>(text: string, values: readonly unknown[]) {
      // The structured result keeps the rows apart from TypeORM's per-command shapes of raw.
      return (await runner.query(text, [...values], true)).records as Row[]
    },
  }
}
