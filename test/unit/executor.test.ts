import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import knexFactory from 'knex'
import {
  executorFor,
  type KnexLike,
  type PgClientLike,
  toKnexRaw,
  transactionExecutorFor,
} from '../../src/db/executor.js'
import { ConfigError } from '../../src/errors.js'

/** A knex transaction as executorFor sees it: a function object with raw(), recording each call. */
function fakeKnex(isTransaction: boolean) {
  const calls: { sql: string; bindings: readonly unknown[] }[] = []
  const trx = Object.assign(() => undefined, {
    isTransaction,
    async raw(sql: string, bindings: readonly unknown[]) {
      calls.push({ sql, bindings })
      return { rows: [{ id: '1' }] }
    },
  }) satisfies KnexLike
  return { trx, calls }
}

function fakePgClient(parts: Partial<PgClientLike> = {}) {
  const calls: { text: string; values: unknown[] }[] = []
  const client: PgClientLike = {
    async query(text: string, values: unknown[]) {
      calls.push({ text, values })
      return { rows: [{ id: '1' }] }
    },
    ...parts,
  }
  return { client, calls }
}

describe('executorFor with knex: $n placeholders become knex bindings, literal ? survive', () => {
  // knex's own pg compiler, without a connection: what it would send to Postgres.
  const knex = knexFactory({ client: 'pg' })
  after(() => knex.destroy())
  const sentByKnex = (text: string, values: readonly unknown[]) => {
    const { sql, bindings } = toKnexRaw(text, values)
    return knex
      .raw(sql, bindings as never[])
      .toSQL()
      .toNative()
  }

  test('placeholders keep their meaning whatever their order and repetition', () => {
    assert.deepEqual(sentByKnex('select $2::int, $1::text, $2::int', ['a', 7]), {
      sql: 'select $1::int, $2::text, $3::int',
      bindings: [7, 'a', 7],
    })
  })

  test('the jsonb operators ?, ?| and ?& reach Postgres as written', () => {
    const text =
      "select headers ? 'traceparent', headers ?| $1::text[], headers ?& array['a'] from t where id = $2"
    assert.deepEqual(sentByKnex(text, [['x'], 5]), { sql: text, bindings: [['x'], 5] })
  })

  test('a literal ?? is not read as a knex identifier binding', () => {
    assert.deepEqual(sentByKnex("select '??' || $1", ['x']), { sql: "select '??' || $1", bindings: ['x'] })
  })

  test('a literal ? directly before a placeholder stays an operator and the value stays bound', () => {
    assert.deepEqual(sentByKnex('select payload ?$1 from t', ['k']), {
      sql: 'select payload ? $1 from t',
      bindings: ['k'],
    })
  })

  test('$ inside an identifier is not a placeholder', () => {
    assert.deepEqual(sentByKnex('select a$1 from t where b = $1', [3]), {
      sql: 'select a$1 from t where b = $1',
      bindings: [3],
    })
  })

  test('SQL that knex cannot carry intact is refused instead of altered', () => {
    assert.throws(() => toKnexRaw("select 'a\\?' ", []), /backslash before "\?"/)
    assert.throws(() => toKnexRaw('select $3', [1, 2]), /\$3 has no value/)
  })

  test('a knex transaction runs the translated SQL through raw() and returns its rows', async () => {
    const { trx, calls } = fakeKnex(true)
    const rows = await executorFor(trx).query('select $1 where headers ? $2', ['a', 'b'])
    assert.deepEqual(rows, [{ id: '1' }])
    assert.deepEqual(calls, [{ sql: 'select ? where headers \\? ?', bindings: ['a', 'b'] }])
  })
})

describe('executorFor refuses connections outside the caller transaction', () => {
  test('the root knex instance is a ConfigError that says to pass a knex transaction, and runs nothing', () => {
    const { trx: root, calls } = fakeKnex(false)
    assert.throws(
      () => executorFor(root),
      (error: unknown) => error instanceof ConfigError && /knex transaction/.test(error.message),
    )
    assert.equal(calls.length, 0)
  })

  test('a pg.Pool is a ConfigError that says to pass a pg.PoolClient after BEGIN, and runs nothing', () => {
    const { client: pool, calls } = fakePgClient({ totalCount: 2 })
    assert.throws(
      () => executorFor(pool),
      (error: unknown) =>
        error instanceof ConfigError && /pg\.Pool/.test(error.message) && /BEGIN/.test(error.message),
    )
    assert.equal(calls.length, 0)
  })

  test('anything else is a ConfigError', () => {
    assert.throws(() => executorFor({} as PgClientLike), ConfigError)
  })

  test('a pg client runs the SQL as written', async () => {
    const { client, calls } = fakePgClient()
    assert.deepEqual(await executorFor(client).query('select $1', [1]), [{ id: '1' }])
    assert.deepEqual(calls, [{ text: 'select $1', values: [1] }])
  })
})

describe('transactionExecutorFor checks a pg client is inside a transaction, without a round trip', () => {
  test('an idle client (status I, nothing running) is a ConfigError that says to run BEGIN', () => {
    const { client, calls } = fakePgClient({ readyForQuery: true, getTransactionStatus: () => 'I' })
    assert.throws(
      () => transactionExecutorFor(client),
      (error: unknown) => error instanceof ConfigError && /BEGIN/.test(error.message),
    )
    assert.equal(calls.length, 0, 'the check itself sends nothing')
  })

  test('a client inside a transaction is accepted', async () => {
    const { client } = fakePgClient({ readyForQuery: true, getTransactionStatus: () => 'T' })
    assert.deepEqual(await transactionExecutorFor(client).query('select 1', []), [{ id: '1' }])
  })

  test('while a query (perhaps BEGIN) is still running the status is stale, so the client is accepted', () => {
    const { client } = fakePgClient({ readyForQuery: false, getTransactionStatus: () => 'I' })
    assert.doesNotThrow(() => transactionExecutorFor(client))
  })

  test('a pg without getTransactionStatus (before 8.21) is accepted unchecked', () => {
    const { client } = fakePgClient({ readyForQuery: true })
    assert.doesNotThrow(() => transactionExecutorFor(client))
  })

  test('a knex transaction is accepted', () => {
    assert.doesNotThrow(() => transactionExecutorFor(fakeKnex(true).trx))
  })
})
