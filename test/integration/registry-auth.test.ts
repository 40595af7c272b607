import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import knexFactory, { type Knex } from 'knex'
import { ConnectionSecurityError } from '../../src/index.js'
import { silentLogger } from '../../src/observe/logger.js'
import { type PostboxSettings, Relay, resolveConfig } from '../../src/relay-api.js'
import { readPublished } from '../../src/testing.js'
import { runPostbox } from '../support/cli.js'
import { orderEvent } from '../support/events.js'
import { type AuthenticatingProxy, startAuthenticatingProxy } from '../support/https-proxy.js'
import { outboxFor, startFailure } from '../support/relay.js'
import { createMigratedDatabase, stack, uniqueName, waitFor } from '../support/stack.js'
import { makeTestCertificates, type TestCertificates } from '../support/tls-files.js'

const USER = 'reguser'
const PASSWORD = 'RegS3cret-registry'
const TOKEN = 'Reg-Bearer-T0ken'

describe('an authenticating HTTPS schema registry', () => {
  let certificates: TestCertificates
  let proxy: AuthenticatingProxy
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let knex: Knex

  before(async () => {
    certificates = makeTestCertificates()
    proxy = await startAuthenticatingProxy(stack.registryUrl, certificates, {
      user: USER,
      password: PASSWORD,
      token: TOKEN,
    })
    db = await createMigratedDatabase('pbregauth')
    knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 2 } })
  })
  after(async () => {
    await knex.destroy()
    await db.drop()
    await proxy.close()
    certificates.remove()
  })

  const settings = (topic: string, registry: PostboxSettings['registry']): PostboxSettings => ({
    events: [orderEvent(topic)],
    databaseUrl: db.url,
    kafka: { brokers: stack.brokers },
    registry,
    relay: { topicPartitions: 1, pollIntervalMs: 200 },
  })

  test('the relay registers the schema and publishes through it, with the credentials from the URL and the CA from registry.ssl.ca', async () => {
    const topic = uniqueName('regauth.publish')
    const OrderChanged = orderEvent(topic)
    const relay = new Relay(
      resolveConfig(
        settings(topic, { url: proxy.urlWithCredentials(USER, PASSWORD), ssl: { ca: certificates.caFile } }),
      ),
      { logger: silentLogger },
    )
    await relay.start()
    try {
      await knex.transaction((trx) =>
        outboxFor([OrderChanged]).enqueue(trx, OrderChanged, {
          id: 5,
          customer: 'c5',
          total_cents: 500,
          status: 'new',
        }),
      )
      const connection = {
        brokers: stack.brokers,
        registryUrl: proxy.url,
        registry: { username: USER, password: PASSWORD, ssl: { ca: certificates.caFile } },
      }
      const [published] = await waitFor('the record, decoded through the proxy', async () => {
        const records = await readPublished(connection, topic)
        return records.length === 1 ? records : undefined
      })
      assert.deepEqual(
        { ...(published?.value as object) },
        { orderId: '5', customer: 'c5', totalCents: 500, version: 0 },
      )
      const direct = await fetch(`${stack.registryUrl}/subjects/${topic}-value/versions/latest`)
      assert.equal(direct.status, 200, 'the schema was registered through the proxy')
      assert.ok(proxy.forwarded > 0)
    } finally {
      await relay.stop()
    }
  })

  test('a bearer token from registry.token is accepted, and the relay resolves its schema through it', async () => {
    const topic = uniqueName('regauth.token')
    const relay = new Relay(
      resolveConfig(settings(topic, { url: proxy.url, token: TOKEN, ssl: { ca: certificates.caFile } })),
      { logger: silentLogger },
    )
    await relay.start()
    await relay.stop()
    const direct = await fetch(`${stack.registryUrl}/subjects/${topic}-value/versions/latest`)
    assert.equal(direct.status, 200)
  })

  test('a registry that demands a client certificate: the relay resolves its schema with registry.ssl.cert and .key; without them nothing is forwarded', async () => {
    const mutual = await startAuthenticatingProxy(
      stack.registryUrl,
      certificates,
      { user: USER, password: PASSWORD },
      { requireClientCertificate: true },
    )
    try {
      const topic = uniqueName('regauth.mtls')
      const registry = { url: mutual.url, username: USER, password: PASSWORD }
      const withoutCertificate = await startFailure(
        settings(topic, { ...registry, ssl: { ca: certificates.caFile } }),
      )
      assert.ok(withoutCertificate instanceof ConnectionSecurityError, String(withoutCertificate))
      assert.match(
        withoutCertificate.message,
        /^registry: the server refused the client certificate, or wants one \(\w+\): set registry\.ssl\.cert and registry\.ssl\.key \(SCHEMA_REGISTRY_CERT, SCHEMA_REGISTRY_KEY\)/,
      )
      assert.equal(mutual.forwarded, 0)

      const relay = new Relay(
        resolveConfig(
          settings(topic, {
            ...registry,
            ssl: {
              ca: certificates.caFile,
              cert: certificates.clientCertFile,
              key: certificates.clientKeyFile,
            },
          }),
        ),
        { logger: silentLogger },
      )
      await relay.start()
      await relay.stop()
      assert.ok(mutual.forwarded > 0)
      const direct = await fetch(`${stack.registryUrl}/subjects/${topic}-value/versions/latest`)
      assert.equal(direct.status, 200)
    } finally {
      await mutual.close()
    }
  })

  test('a wrong registry password stops the relay at start-up with one line naming the credential settings', async () => {
    const topic = uniqueName('regauth.wrong')
    const error = await startFailure(
      settings(topic, {
        url: proxy.url,
        username: USER,
        password: 'not-the-password',
        ssl: { ca: certificates.caFile },
      }),
    )
    assert.ok(error instanceof ConnectionSecurityError, String(error))
    assert.equal(error.retriable, false)
    assert.match(error.message, /^registry: the schema registry rejected the credentials \(HTTP 401\)/)
    assert.match(error.message, /SCHEMA_REGISTRY_PASSWORD/)
    assert.doesNotMatch(error.message, /\n/)
    assert.ok(proxy.refused > 0)
  })

  test('a registry certificate from a CA the relay does not trust stops it at start-up, naming registry.ssl.ca', async () => {
    const topic = uniqueName('regauth.untrusted')
    const error = await startFailure(settings(topic, { url: proxy.urlWithCredentials(USER, PASSWORD) }))
    assert.ok(error instanceof ConnectionSecurityError, String(error))
    assert.equal(error.retriable, false)
    assert.match(
      error.message,
      /certificate is not trusted \(\w+\): set registry\.ssl\.ca \(SCHEMA_REGISTRY_CA\)/,
    )
  })

  test('postbox schemas register works through the proxy with the password in SCHEMA_REGISTRY_URL, and a wrong one exits 1 with one line', async () => {
    const topic = uniqueName('regauth.cli')
    const cli = (url: string) =>
      runPostbox(['--config', 'test/cli/fixtures/orders.config.ts', 'schemas', 'register'], {
        databaseUrl: db.url,
        env: { PBTEST_TOPIC: topic, SCHEMA_REGISTRY_URL: url, SCHEMA_REGISTRY_CA: certificates.caFile },
      })
    const ok = await cli(proxy.urlWithCredentials(USER, PASSWORD))
    assert.equal(ok.code, 0, ok.stderr)
    assert.match(ok.stdout, new RegExp(`${topic}-value → id \\d+, version 1`))

    const refused = await cli(proxy.urlWithCredentials(USER, 'Wrong-Pa55word'))
    assert.equal(refused.code, 1)
    assert.doesNotMatch(refused.stderr + refused.stdout, /Wrong-Pa55word/)
    assert.match(refused.stderr, /HTTP 401/)
  })
})
