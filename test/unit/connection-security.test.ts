import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { connectionEnvironment, withConnectionEnvironment } from '../../src/connect/environment.js'
import { databaseUrlFromLibpq, pgpassPassword, withPgpass } from '../../src/connect/libpq.js'
import { pgConnectionOptions } from '../../src/connect/postgres-tls.js'
import { resolveRegistryConnection } from '../../src/connect/registry-auth.js'
import { ConfigError, ConnectionSecurityError, UnavailableError } from '../../src/errors.js'
import { classifyKafkaError } from '../../src/kafka/classify.js'
import { redact, rememberSecret } from '../../src/redact.js'

const dir = mkdtempSync(join(tmpdir(), 'postbox-unit-'))
const pem = join(dir, 'ca.pem')
writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')

describe('redact', () => {
  test('masks the password of URL userinfo and keeps the user name', () => {
    assert.equal(
      redact('connecting to postgres://app:Pa55word@db:5432/app failed'),
      'connecting to postgres://app:***@db:5432/app failed',
    )
  })

  test('masks password= parameters and Authorization values', () => {
    assert.equal(redact('host=db password=Pa55word user=app'), 'host=db password=*** user=app')
    assert.equal(redact('authorization: Basic cmVndXNlcjpSZWdTM2NyZXQ='), 'authorization: Basic ***')
  })

  test('masks a remembered secret wherever it appears, also URL-encoded', () => {
    rememberSecret('sasl/secret value')
    assert.equal(redact('got sasl/secret value and sasl%2Fsecret%20value'), 'got *** and ***')
  })
})

describe('Postgres TLS parameters mean what libpq means', () => {
  const url = (query: string) => `postgres://app@db.example:5432/app?${query}`

  test('require encrypts without checking the certificate', () => {
    const { ssl, connectionString } = pgConnectionOptions(url('sslmode=require'))
    assert.deepEqual(ssl, { rejectUnauthorized: false })
    assert.equal(connectionString, 'postgres://app@db.example:5432/app')
  })

  test('require with sslrootcert verifies the CA but not the host name, like verify-ca', () => {
    const { ssl } = pgConnectionOptions(url(`sslmode=require&sslrootcert=${pem}`))
    assert.ok(ssl !== false)
    assert.equal(ssl.rejectUnauthorized, true)
    assert.equal(typeof ssl.checkServerIdentity, 'function')
    assert.match(String(ssl.ca), /BEGIN CERTIFICATE/)
  })

  test('verify-full checks the CA and the host name', () => {
    const { ssl } = pgConnectionOptions(url(`sslmode=verify-full&sslrootcert=${pem}`))
    assert.ok(ssl !== false)
    assert.equal(ssl.rejectUnauthorized, true)
    assert.equal(ssl.checkServerIdentity, undefined)
  })

  test('disable, prefer and no sslmode connect without TLS', () => {
    for (const query of ['sslmode=disable', 'sslmode=prefer', '']) {
      assert.equal(pgConnectionOptions(url(query)).ssl, false, query)
    }
  })

  test("connect_timeout is libpq's seconds, 10 by default, 0 for ever, and leaves the URL", () => {
    assert.equal(pgConnectionOptions(url('')).connectionTimeoutMillis, 10_000)
    const timed = pgConnectionOptions(url('connect_timeout=3&sslmode=disable'))
    assert.equal(timed.connectionTimeoutMillis, 3_000)
    assert.equal(timed.connectionString, 'postgres://app@db.example:5432/app')
    assert.equal(pgConnectionOptions(url('connect_timeout=0')).connectionTimeoutMillis, 0)
    assert.throws(
      () => pgConnectionOptions(url('connect_timeout=soon')),
      (error: Error) =>
        error instanceof ConfigError && /^connect_timeout "soon" is not a whole number/.test(error.message),
    )
  })

  test('an unreadable sslrootcert names the setting', () => {
    assert.throws(
      () => pgConnectionOptions(url('sslmode=verify-full&sslrootcert=/nonexistent/ca.pem')),
      (error: Error) => error instanceof ConfigError && /^sslrootcert: cannot read/.test(error.message),
    )
  })
})

describe('libpq variables and .pgpass', () => {
  test('PG* variables make the database URL, with TLS parameters', () => {
    assert.equal(
      databaseUrlFromLibpq({
        PGHOST: 'db',
        PGPORT: '6432',
        PGUSER: 'app',
        PGPASSWORD: 'pw word',
        PGDATABASE: 'orders',
        PGSSLMODE: 'verify-full',
        PGCONNECT_TIMEOUT: '5',
      }),
      'postgres://app:pw%20word@db:6432/orders?sslmode=verify-full&connect_timeout=5',
    )
    assert.equal(databaseUrlFromLibpq({}), undefined)
  })

  test('.pgpass gives the first matching line, with * and escaped colons', () => {
    const file = join(dir, 'pgpass')
    writeFileSync(file, '# comment\nother:5432:*:app:nope\ndb:*:orders:app:se\\:cret\n*:*:*:*:fallback\n')
    chmodSync(file, 0o600)
    assert.equal(
      pgpassPassword({ host: 'db', port: '5432', database: 'orders', user: 'app' }, file),
      'se:cret',
    )
    assert.equal(withPgpass('postgres://x@h:1/d', { PGPASSFILE: file }), 'postgres://x:fallback@h:1/d')
    assert.equal(withPgpass('postgres://x:given@h:1/d', { PGPASSFILE: file }), 'postgres://x:given@h:1/d')
  })

  test('a .pgpass others can read is ignored, as libpq does', () => {
    const file = join(dir, 'pgpass-open')
    writeFileSync(file, '*:*:*:*:secret\n')
    chmodSync(file, 0o644)
    assert.equal(pgpassPassword({ host: 'h', port: '1', database: 'd', user: 'u' }, file), undefined)
  })
})

describe('connection settings from the environment', () => {
  test('KAFKA_SSL* and KAFKA_SASL_* become kafka.ssl and kafka.sasl, over the config file', () => {
    const env = connectionEnvironment({
      KAFKA_SSL: 'true',
      KAFKA_SSL_CA: pem,
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: 'svc',
      KAFKA_SASL_PASSWORD: 'pw',
      UNRELATED: 'x',
    })
    const settings = withConnectionEnvironment({ events: [], kafka: { brokers: 'b:9094', ssl: false } }, env)
    assert.deepEqual(settings.kafka, {
      brokers: 'b:9094',
      ssl: { ca: pem },
      sasl: { mechanism: 'SCRAM-SHA-512', username: 'svc', password: 'pw' },
    })
  })

  test('registry userinfo becomes a basic Authorization header and leaves the URL', () => {
    const connection = resolveRegistryConnection({
      url: 'https://key:se%2Fcret@registry.example/apis/ccompat/v7/',
    })
    assert.equal(connection.url, 'https://registry.example/apis/ccompat/v7')
    assert.equal(connection.authorization, `Basic ${Buffer.from('key:se/cret').toString('base64')}`)
  })

  test('a registry token and a user name together are a configuration error', () => {
    assert.throws(
      () => resolveRegistryConnection({ url: 'https://u:p@r.example', token: 't' }),
      (error: Error) => error instanceof ConfigError,
    )
  })
})

describe('Kafka security failures are fatal, with the setting to fix', () => {
  const wrapped = (cause: Error) =>
    Object.assign(new Error(cause.message, { cause }), { name: 'KafkaJSNonRetriableError' })

  test('rejected SASL credentials', () => {
    const sasl = Object.assign(new Error('SASL SCRAM SHA512 authentication failed: invalid credentials'), {
      name: 'KafkaJSSASLAuthenticationError',
    })
    const error = classifyKafkaError(wrapped(sasl), 'connecting')
    assert.ok(error instanceof ConnectionSecurityError)
    assert.equal(error.retriable, false)
    assert.match(error.message, /KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD/)
  })

  test('a mechanism the broker lacks', () => {
    const handshake = Object.assign(new Error('unsupported'), {
      name: 'KafkaJSProtocolError',
      type: 'UNSUPPORTED_SASL_MECHANISM',
      code: 33,
    })
    const error = classifyKafkaError(wrapped(handshake), 'connecting')
    assert.ok(error instanceof ConnectionSecurityError)
    assert.match(error.message, /KAFKA_SASL_MECHANISM/)
  })

  for (const code of [
    'SELF_SIGNED_CERT_IN_CHAIN',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
  ]) {
    test(`an untrusted certificate (${code})`, () => {
      const connection = Object.assign(new Error('Connection error: self-signed'), {
        name: 'KafkaJSConnectionError',
        code,
      })
      const error = classifyKafkaError(wrapped(connection), 'connecting')
      assert.ok(error instanceof ConnectionSecurityError)
      assert.match(error.message, /kafka\.ssl\.ca \(KAFKA_SSL_CA\)/)
    })
  }

  test('a certificate for another host names the brokers setting', () => {
    const connection = Object.assign(new Error('Hostname/IP does not match'), {
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    })
    const error = classifyKafkaError(connection, 'connecting')
    assert.ok(error instanceof ConnectionSecurityError)
    assert.match(error.message, /kafka\.brokers \(KAFKA_BROKERS\)/)
  })

  test('a refused connection is still retriable', () => {
    const refused = Object.assign(new Error('Connection error: connect ECONNREFUSED'), {
      code: 'ECONNREFUSED',
    })
    assert.ok(classifyKafkaError(refused, 'connecting') instanceof UnavailableError)
  })
})
