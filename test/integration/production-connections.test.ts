import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { readPublished } from '../../src/testing.js'
import { runPostbox, startPostbox } from '../support/cli.js'
import { orderEvent, orderRow } from '../support/events.js'
import { type AuthenticatingProxy, startAuthenticatingProxy } from '../support/https-proxy.js'
import { outboxFor } from '../support/relay.js'
import {
  ensurePrivateCluster,
  saslPassword,
  secureStack,
  stackFile,
  verifyFull,
} from '../support/secure-stack.js'
import {
  asRole,
  createTestDatabase,
  dropRoles,
  queryRows,
  stack,
  uniqueGrantRoles,
  uniqueName,
  waitFor,
} from '../support/stack.js'
import { makeTestCertificates, type TestCertificates } from '../support/tls-files.js'
import { inTransaction } from '../support/transaction.js'

const CONFIG = 'test/cli/fixtures/orders.config.ts'
const REGISTRY_USER = 'orders-relay'
const REGISTRY_PASSWORD = 'Prod-Reg1stry-pw'

/**
 * Issue 11's proof: one `postbox relay`, deployed as the README's "Production connections" says
 * (config file for the events, the environment for every connection), publishes through the
 * broker's SASL_SSL listener with SCRAM-SHA-512, registers and looks up its schema through an
 * HTTPS registry that demands basic auth, and reads PostgreSQL over sslmode=verify-full, as the
 * relay role of `postbox grants`, what the application role enqueued.
 */
describe('production connections: SASL_SSL Kafka, an authenticating HTTPS registry and verify-full PostgreSQL at once', () => {
  let certificates: TestCertificates
  let proxy: AuthenticatingProxy
  let db: Awaited<ReturnType<typeof createTestDatabase>>
  let appPool: pg.Pool
  const { roles, options: roleOptions } = uniqueGrantRoles('pbprod')
  const topic = uniqueName('prod.orders')
  const OrderChanged = orderEvent(topic)

  /** The test database on the private cluster as `role` (null: its administrator), over verify-full TLS. */
  const databaseUrl = (role: string | null) => verifyFull(role === null ? db.url : asRole(db.url, role))

  /** What a deployment sets, as the README documents it; DATABASE_URL comes from `databaseUrl`. */
  const environment = (): Record<string, string> => ({
    PBTEST_TOPIC: topic,
    KAFKA_BROKERS: secureStack.saslBrokers.join(','),
    KAFKA_SSL_CA: stackFile(secureStack.caFile),
    KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
    KAFKA_SASL_USERNAME: secureStack.saslUsername,
    KAFKA_SASL_PASSWORD: saslPassword(),
    SCHEMA_REGISTRY_URL: proxy.url,
    SCHEMA_REGISTRY_USERNAME: REGISTRY_USER,
    SCHEMA_REGISTRY_PASSWORD: REGISTRY_PASSWORD,
    SCHEMA_REGISTRY_CA: certificates.caFile,
  })

  const cli = (role: string | null, ...args: string[]) =>
    runPostbox(['--config', CONFIG, ...args], {
      databaseUrl: databaseUrl(role),
      env: environment(),
      timeoutMs: 120_000,
    })

  before(async () => {
    await ensurePrivateCluster()
    certificates = makeTestCertificates()
    proxy = await startAuthenticatingProxy(stack.registryUrl, certificates, {
      user: REGISTRY_USER,
      password: REGISTRY_PASSWORD,
    })
    db = await createTestDatabase('pbprod', secureStack.pgPrivateUrl)
    // The order the README gives: roles and schema, migrate as the owner, then the table grants.
    for (const [role, args] of [
      [null, ['grants', '--apply', '--login', ...roleOptions]],
      [roles.owner, ['migrate']],
      [null, ['grants', '--apply', ...roleOptions]],
    ] as const) {
      const run = await cli(role, ...args)
      assert.equal(run.code, 0, `postbox ${args.join(' ')}: ${run.stderr}`)
    }
    appPool = new pg.Pool({ connectionString: databaseUrl(roles.app), max: 1 })
  })

  after(async () => {
    try {
      await appPool?.end()
      await proxy?.close()
      certificates?.remove()
      await db?.drop()
    } finally {
      await dropRoles(secureStack.pgPrivateUrl, Object.values(roles))
    }
  })

  test('postbox relay, configured by the environment alone, publishes what the application role enqueued, in order per key, and marks it sent', async () => {
    const keys = [1, 2, 3]
    const versions = [1, 2, 3]
    for (const version of versions) {
      await inTransaction(appPool, (client) =>
        outboxFor([OrderChanged]).enqueueMany(
          client,
          OrderChanged,
          keys.map((id) => orderRow(id, version)),
        ),
      )
    }
    const statuses = async () =>
      (await queryRows<{ status: string }>(databaseUrl(null), 'select status from postbox.outbox')).map(
        (r) => r.status,
      )
    const database = new URL(db.url).pathname.slice(1)

    const relay = startPostbox(['--config', CONFIG, 'relay'], {
      databaseUrl: databaseUrl(roles.relay),
      env: environment(),
    })
    let sessions: { application: string; ssl: boolean }[]
    let exitCode: number | null
    try {
      await waitFor(
        'every row sent',
        async () => ((await statuses()).every((s) => s === 'sent') ? true : undefined),
        60_000,
      )
      sessions = await waitFor('the relay role connected', async () => {
        const rows = await queryRows<{ application: string; ssl: boolean }>(
          secureStack.pgPrivateUrl,
          `select a.application_name as application, s.ssl
             from pg_stat_activity a join pg_stat_ssl s using (pid)
            where a.usename = $1 and a.datname = $2`,
          [roles.relay, database],
        )
        return rows.length > 0 ? rows : undefined
      })
    } finally {
      exitCode = await relay.stop()
    }
    assert.equal(exitCode, 0, relay.output())

    assert.deepEqual(await statuses(), Array(keys.length * versions.length).fill('sent'))
    assert.deepEqual(
      sessions.filter((s) => !s.ssl),
      [],
      `every connection of the relay role uses TLS: ${JSON.stringify(sessions)}`,
    )
    // Every registry call went through the proxy with the credentials; the schema landed upstream.
    assert.ok(proxy.forwarded > 0)
    assert.equal(proxy.refused, 0)
    const direct = await fetch(`${stack.registryUrl}/subjects/${topic}-value/versions/latest`)
    assert.equal(direct.status, 200, 'the schema was registered through the proxy')

    const records = await readPublished(
      {
        brokers: secureStack.saslBrokers,
        ssl: { ca: secureStack.caFile },
        sasl: { mechanism: 'scram-sha-512', username: secureStack.saslUsername, password: saslPassword() },
        registryUrl: proxy.url,
        registry: { username: REGISTRY_USER, password: REGISTRY_PASSWORD, ssl: { ca: certificates.caFile } },
      },
      topic,
    )
    assert.equal(records.length, keys.length * versions.length)
    for (const id of keys) {
      assert.deepEqual(
        records.filter((r) => r.key === String(id)).map((r) => r.value),
        versions.map((version) => ({
          orderId: String(id),
          customer: `customer-${id}`,
          totalCents: id * 100,
          version,
        })),
        `key ${id} in the order it was enqueued`,
      )
    }
  })
})
