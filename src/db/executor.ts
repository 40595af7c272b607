import type { Knex } from 'knex'
import type pg from 'pg'
import { type DrizzleTransaction, drizzleExecutor, isDrizzle } from '../clients/drizzle.js'
import { type QueryableClient, queryableExecutor } from '../clients/generic.js'
import { isKysely, type KyselyTransaction, kyselyExecutor } from '../clients/kysely.js'
import { isMikroOrm, type MikroOrmEntityManager, mikroOrmTransactionContext } from '../clients/mikro-orm.js'
import { isPostgresJs, type PostgresJsTransaction, postgresJsExecutor } from '../clients/postgres-js.js'
import { isSequelize, type SequelizeTransaction, sequelizeExecutor } from '../clients/sequelize.js'
import { isTypeOrm, type TypeOrmTransaction, typeOrmExecutor } from '../clients/typeorm.js'
import { ConfigError } from '../errors.js'

export type { QueryableClient } from '../clients/generic.js'
export type { QueryResultRows } from '../clients/rows.js'

/**
 * What the caller hands enqueue(): the transaction object of its own client. A knex transaction;
 * a pg client (`pg.Client`, `pg.PoolClient`) inside BEGIN … COMMIT; the `sql` of postgres.js's
 * sql.begin(); a Kysely, Drizzle (PostgreSQL) or Sequelize transaction; a TypeORM EntityManager
 * or QueryRunner in a transaction; a MikroORM EntityManager in a transaction; or any object with
 * `query(text, params)` run inside the caller's transaction (QueryableClient). Not a pool nor a
 * root instance: each of their statements commits on its own, outside the caller's transaction.
 * Clients are recognised by their shape: Postbox loads none of them.
 */
export type SqlClient =
  | Knex.Transaction
  | pg.ClientBase
  | PostgresJsTransaction
  | KyselyTransaction
  | DrizzleTransaction
  | TypeOrmTransaction
  | SequelizeTransaction
  | MikroOrmEntityManager
  | QueryableClient

/** The one method Postbox needs from a connection: run parameterised SQL ($1, $2 …), get rows. */
export interface SqlExecutor {
  query<Row>(text: string, values: readonly unknown[], options?: QueryOptions): Promise<Row[]>
}

export interface QueryOptions {
  /**
   * A hot statement whose generic plan is as good as a fresh one: run it as a named prepared
   * statement where the connection allows (the relay's own pool), so it is parsed and planned
   * once per connection. Other connections ignore the hint.
   */
  prepare?: boolean
}

/** The part of a knex instance or transaction Postbox uses: a function object with raw(). */
export interface KnexLike {
  (...args: never[]): unknown
  raw(sql: string, bindings: readonly unknown[]): PromiseLike<unknown>
  readonly isTransaction?: boolean
}

/** The part of a pg client (or pool) Postbox uses. */
export interface PgClientLike {
  query(text: string, values: unknown[]): Promise<{ rows: unknown[] }>
  /** 'I' idle, 'T' in a transaction, 'E' in a failed one (pg ≥ 8.21; null on pg-native). */
  getTransactionStatus?(): string | null
  /** pg sets this while no query is queued or running, so the transaction status is current. */
  readonly readyForQuery?: boolean
  /** Only a pool counts its clients. */
  readonly totalCount?: number
}

export type Connection = KnexLike | PgClientLike

const PASS_INSTEAD =
  "pass a knex transaction (knex.transaction(async (trx) => … enqueue(trx, …))), a pg.Client/pg.PoolClient after BEGIN, another client's transaction object, or { query(text, params) } run inside your transaction (see the README)"

function isKnex(client: Connection): client is KnexLike {
  return typeof client === 'function' && typeof (client as Partial<KnexLike>).raw === 'function'
}

function isPgClient(client: Connection): client is PgClientLike {
  return client !== null && typeof client === 'object' && typeof client.query === 'function'
}

/**
 * knex binds `?` (and `??` as an identifier) and turns `\?` into a literal `?`. Rewrites the
 * `$n` placeholders of Postbox's SQL to `?` with the values in placeholder order, and escapes
 * every `?` the SQL itself contains (jsonb operators `?`, `?|`, `?&`) so knex leaves it alone.
 */
export function toKnexRaw(text: string, values: readonly unknown[]): { sql: string; bindings: unknown[] } {
  const bindings: unknown[] = []
  let sql = ''
  let last = 0
  for (const match of text.matchAll(/(?<![\w$])\$(\d+)|\\*\?/g)) {
    sql += text.slice(last, match.index)
    last = match.index + match[0].length
    const n = match[1]
    if (n === undefined) {
      // knex drops every backslash in front of a `?`: such text cannot reach Postgres intact.
      if (match[0] !== '?') throw new Error('a backslash before "?" cannot pass through knex.raw')
      sql += '\\?'
      continue
    }
    const index = Number(n) - 1
    if (index >= values.length) throw new Error(`$${n} has no value (${values.length} given)`)
    bindings.push(values[index])
    // knex reads `\??` as one binding: keep a placeholder apart from a literal `?` before it.
    sql += sql.endsWith('\\?') ? ' ?' : '?'
  }
  return { sql: sql + text.slice(last), bindings }
}

function knexExecutor(trx: KnexLike): SqlExecutor {
  return {
    async query<Row>(text: string, values: readonly unknown[]) {
      const { sql, bindings } = toKnexRaw(text, values)
      const result = (await trx.raw(sql, bindings)) as { rows: Row[] }
      return result.rows
    },
  }
}

/**
 * Adapts the caller's connection, so Postbox joins the caller's transaction. Refuses a pg pool
 * and the root knex instance, which would run Postbox's statements in transactions of their own.
 */
export function executorFor(client: SqlClient | Connection): SqlExecutor {
  const connection = client as Connection
  if (isPostgresJs(connection)) return postgresJsExecutor(connection)
  if (isKysely(connection)) return kyselyExecutor(connection)
  if (isDrizzle(connection)) return drizzleExecutor(connection)
  if (isTypeOrm(connection)) return typeOrmExecutor(connection)
  if (isSequelize(connection)) return sequelizeExecutor(connection)
  if (isMikroOrm(connection)) {
    const context = mikroOrmTransactionContext(connection) as Connection
    if (isKnex(context)) return knexExecutor(context)
    throw new ConfigError(
      'the MikroORM EntityManager has no knex transaction: use a MikroORM SQL driver (e.g. @mikro-orm/postgresql)',
    )
  }
  if (isKnex(connection)) {
    if (connection.isTransaction !== true) {
      throw new ConfigError(`got the knex instance, whose statements commit on their own: ${PASS_INSTEAD}`)
    }
    return knexExecutor(connection)
  }
  if (isPgClient(connection)) {
    if (typeof connection.totalCount === 'number') {
      throw new ConfigError(
        `got a pg.Pool, which runs each statement on any of its connections and commits it there: ${PASS_INSTEAD}`,
      )
    }
    return queryableExecutor(connection as QueryableClient)
  }
  throw new ConfigError(`expected the caller's connection: ${PASS_INSTEAD}`)
}

/**
 * executorFor() for writes that must commit or roll back with the caller's work. A pg client
 * that has seen no BEGIN is refused too; the check reads the status byte of the client's last
 * ReadyForQuery, so it costs no round trip. It is skipped where that status is unknown (a pg
 * without getTransactionStatus, pg-native, a query still running on the client).
 */
export function transactionExecutorFor(client: SqlClient | Connection): SqlExecutor {
  const executor = executorFor(client)
  const connection = client as Connection
  if (
    !isKnex(connection) &&
    connection.readyForQuery === true &&
    connection.getTransactionStatus?.() === 'I'
  ) {
    throw new ConfigError(
      `the pg client is not inside a transaction, so the outbox row would commit on its own: run BEGIN on it first, or ${PASS_INSTEAD}`,
    )
  }
  return executor
}
