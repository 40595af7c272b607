import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import pg from 'pg'
import { classifyPgError } from '../../src/db/errors.js'
import { openDatabase } from '../../src/db/pool.js'
import {
  ConnectionSecurityError,
  DatabaseError,
  describeError,
  MigrationError,
  UnavailableError,
} from '../../src/errors.js'

/** An error as pg builds it from the server's error response. */
function serverError(sqlstate: string, message: string): pg.DatabaseError {
  const error = new pg.DatabaseError(message, 0, 'error')
  error.severity = 'ERROR'
  error.code = sqlstate
  return error
}

function socketError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code, syscall: 'connect' })
}

function assertUnavailable(original: unknown) {
  const classified = classifyPgError(original)
  assert.ok(classified instanceof UnavailableError, `${describeError(original)} should be UnavailableError`)
  assert.equal(classified.dependency, 'postgres')
  assert.equal(classified.retriable, true)
  assert.equal(classified.cause, original)
}

describe('Postgres error classification', () => {
  const unavailable: [string, string][] = [
    ['08000', 'connection exception'],
    ['08001', 'could not establish connection'],
    ['08003', 'connection does not exist'],
    ['08006', 'connection failure'],
    ['08P01', 'protocol violation'],
    ['57P01', 'terminating connection due to administrator command'],
    ['57P02', 'terminating connection because of crash of another server process'],
    ['57P03', 'the database system is starting up'],
    ['53300', 'sorry, too many clients already'],
    ['40001', 'could not serialize access due to concurrent update'],
    ['40P01', 'deadlock detected'],
  ]
  for (const [sqlstate, message] of unavailable) {
    test(`SQLSTATE ${sqlstate} (${message}) is UnavailableError('postgres'), retriable, with the original as cause`, () => {
      assertUnavailable(serverError(sqlstate, message))
    })
  }

  const fatal: [string, string][] = [
    ['42P01', 'relation "postbox.outbox" does not exist'],
    ['42501', 'permission denied for table outbox'],
    ['23505', 'duplicate key value violates unique constraint'],
    ['42601', 'syntax error at or near "selec"'],
    ['53100', 'could not extend file: No space left on device'],
    ['57014', 'canceling statement due to statement timeout'],
    ['3D000', 'database "nope" does not exist'],
  ]
  for (const [sqlstate, message] of fatal) {
    test(`SQLSTATE ${sqlstate} (${message}) is a fatal DatabaseError carrying the SQLSTATE`, () => {
      const original = serverError(sqlstate, message)
      const classified = classifyPgError(original)
      assert.ok(classified instanceof DatabaseError)
      assert.equal(classified.sqlstate, sqlstate)
      assert.equal(classified.retriable, false)
      assert.equal(classified.code, 'POSTBOX_DATABASE')
      assert.equal(classified.cause, original)
    })
  }

  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']) {
    test(`a socket error ${code} is UnavailableError('postgres')`, () => {
      assertUnavailable(socketError(code))
    })
  }

  test('a refused connection to a host with several addresses (AggregateError with a code) is UnavailableError', () => {
    const refused = Object.assign(
      new AggregateError([socketError('ECONNREFUSED'), socketError('ECONNREFUSED')], ''),
      {
        code: 'ECONNREFUSED',
      },
    )
    assertUnavailable(refused)
  })

  for (const message of [
    'Connection terminated',
    'Connection terminated unexpectedly',
    'Connection terminated due to connection timeout',
    'Client has encountered a connection error and is not queryable',
    'timeout exceeded when trying to connect',
  ]) {
    test(`pg's uncoded "${message}" is UnavailableError('postgres')`, () => {
      assertUnavailable(new Error(message))
    })
  }

  test('an uncoded error that merely mentions a connection is fatal, not mistaken for a lost connection', () => {
    const original = new Error('Connection terminated unexpectedly? No: the config file is broken')
    const classified = classifyPgError(original)
    assert.ok(classified instanceof DatabaseError)
    assert.equal(classified.sqlstate, null)
  })

  test('a Node error code that is not a lost connection is fatal and carries no SQLSTATE', () => {
    const classified = classifyPgError(
      Object.assign(new Error('getaddrinfo ENOTFOUND db.invalid'), { code: 'ENOTFOUND' }),
    )
    assert.ok(classified instanceof DatabaseError)
    assert.equal(classified.sqlstate, null)
  })

  test('a database refusing connections for now (55000 from the connection check) is UnavailableError; other 55000s are fatal', () => {
    const refusing = Object.assign(new Error('database "x" is not currently accepting connections'), {
      code: '55000',
      severity: 'FATAL',
      routine: 'CheckMyDatabase',
    })
    assert.ok(classifyPgError(refusing) instanceof UnavailableError)
    const other = Object.assign(new Error('cannot do that now'), { code: '55000', severity: 'ERROR' })
    assert.ok(classifyPgError(other) instanceof DatabaseError)
  })

  test('an untrusted server certificate is a ConnectionSecurityError naming sslrootcert, not a retry', () => {
    const tls = Object.assign(new Error('self-signed certificate in certificate chain'), {
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
    })
    const classifiedError = classifyPgError(tls)
    assert.ok(classifiedError instanceof ConnectionSecurityError)
    assert.equal(classifiedError.retriable, false)
    assert.match(
      classifiedError.message,
      /^postgres: .*not trusted \(SELF_SIGNED_CERT_IN_CHAIN\): set sslrootcert/,
    )
    assert.equal(classifiedError.cause, tls)
  })

  test('a PostboxError passes unchanged', () => {
    const original = new MigrationError('postbox migrations are forward-only')
    assert.equal(classifyPgError(original), original)
  })

  test('the description names Postgres, the SQLSTATE and the server message once', () => {
    assert.equal(
      describeError(classifyPgError(serverError('42P01', 'relation "postbox.outbox" does not exist'))),
      'postgres: the statement failed with SQLSTATE 42P01 (cause: relation "postbox.outbox" does not exist)',
    )
  })

  test('a query through openDatabase when nothing listens on the port fails with UnavailableError', async () => {
    const db = openDatabase('postgres://postgres@127.0.0.1:1/postgres', 'postbox unit test', 1)
    try {
      await assert.rejects(db.query('select 1', []), (error: unknown) => {
        assert.ok(error instanceof UnavailableError, describeError(error))
        assert.equal(error.dependency, 'postgres')
        return true
      })
    } finally {
      await db.close()
    }
  })
})
