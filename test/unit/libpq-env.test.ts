import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import pgConnectionString from 'pg-connection-string'
import { databaseUrlFromLibpqEnv } from '../../src/connect/libpq-env.js'
import { ConfigError } from '../../src/errors.js'

/** What pg connects to for the URL built from `env` (the fields an operator would check). */
function connectsTo(env: Parameters<typeof databaseUrlFromLibpqEnv>[0]) {
  const url = databaseUrlFromLibpqEnv(env, 'osuser')
  assert.ok(url !== undefined, 'a URL')
  const { host, port, user, password, database, sslmode } = pgConnectionString.parse(
    url,
  ) as unknown as Record<string, unknown>
  return { host, port, user, password, database, sslmode }
}

describe('libpq environment variables', () => {
  test('no PG variable set (or only empty ones) builds no URL', () => {
    assert.equal(databaseUrlFromLibpqEnv({}, 'osuser'), undefined)
    assert.equal(databaseUrlFromLibpqEnv({ PGHOST: '', PGDATABASE: '' }, 'osuser'), undefined)
  })

  test('every variable lands in its part of the URL, special characters included', () => {
    assert.deepEqual(
      connectsTo({
        PGHOST: 'db.example',
        PGPORT: '6543',
        PGUSER: 'app user',
        PGPASSWORD: 'p@ss:w/rd?#',
        PGDATABASE: 'shop eu',
        PGSSLMODE: 'verify-full',
      }),
      {
        host: 'db.example',
        port: '6543',
        user: 'app user',
        password: 'p@ss:w/rd?#',
        database: 'shop eu',
        sslmode: 'verify-full',
      },
    )
  })

  test('like psql, the user defaults to the OS user and the database to the user; port 5432, host localhost', () => {
    assert.deepEqual(connectsTo({ PGPASSWORD: 'secret' }), {
      host: 'localhost',
      port: '5432',
      user: 'osuser',
      password: 'secret',
      database: 'osuser',
      sslmode: undefined,
    })
    assert.equal(connectsTo({ PGUSER: 'alice' }).database, 'alice')
  })

  test('a PGHOST that is a directory selects that Unix socket', () => {
    const target = connectsTo({ PGHOST: '/var/run/postgresql', PGPORT: '5433', PGDATABASE: 'shop' })
    assert.equal(target.host, '/var/run/postgresql')
    assert.equal(target.port, '5433')
    assert.equal(target.database, 'shop')
  })

  test('a PGPORT that is not a port and an unknown PGSSLMODE are refused, naming the variable', () => {
    for (const [env, pattern] of [
      [{ PGPORT: 'abc' }, /^PGPORT "abc" is not a TCP port/],
      [{ PGPORT: '70000' }, /^PGPORT "70000" is not a TCP port/],
      [{ PGSSLMODE: 'on' }, /^PGSSLMODE "on" is not an SSL mode: expected one of disable, allow, prefer/],
    ] as const) {
      assert.throws(
        () => databaseUrlFromLibpqEnv(env, 'osuser'),
        (error: unknown) => error instanceof ConfigError && pattern.test(error.message),
      )
    }
  })
})
