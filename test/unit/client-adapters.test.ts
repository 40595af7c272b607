import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { executorFor } from '../../src/db/executor.js'
import { ConfigError } from '../../src/errors.js'
import type { QueryableClient } from '../../src/index.js'

describe('the { query(text, params) } adapter', () => {
  test('passes the SQL with $n placeholders and the values in order, and returns the rows it resolved to', async () => {
    const calls: unknown[][] = []
    const client: QueryableClient = {
      async query(text, params) {
        calls.push([text, params])
        return [{ id: '7' }]
      },
    }
    assert.deepEqual(await executorFor(client).query('select $1::jsonb, $2', ['{}', 'x']), [{ id: '7' }])
    assert.deepEqual(calls, [['select $1::jsonb, $2', ['{}', 'x']]])
  })

  test('takes the rows out of a { rows } result', async () => {
    const client: QueryableClient = { query: async () => ({ rows: [{ id: '8' }], rowCount: 1 }) }
    assert.deepEqual(await executorFor(client).query('select 1', []), [{ id: '8' }])
  })

  test('a result that is neither rows nor { rows } is a ConfigError saying what query() must return', async () => {
    const client = { query: async () => 1 } as unknown as QueryableClient
    await assert.rejects(
      executorFor(client).query('select 1', []),
      (error: unknown) =>
        error instanceof ConfigError &&
        /must resolve to the result rows or to \{ rows \}/.test(error.message),
    )
  })

  test('an object without query() is refused with a ConfigError naming what to pass', () => {
    assert.throws(
      () => executorFor({} as QueryableClient),
      (error: unknown) => error instanceof ConfigError && /\{ query\(text, params\) \}/.test(error.message),
    )
  })
})
