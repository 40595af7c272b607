import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import knexFactory from 'knex'
import pg from 'pg'
import { openDatabase } from '../../src/db/pool.js'
import { createOutbox } from '../../src/index.js'
import { silentLogger } from '../../src/observe/logger.js'
import { migrate, Relay, resolveConfig } from '../../src/relay-api.js'
import { runPostbox } from '../support/cli.js'
import { orderEvent } from '../support/events.js'
import { readTopic } from '../support/relay.js'
import {
  ensurePrivateCluster,
  secureStack,
  verifyFull,
  withQueryParameters,
} from '../support/secure-stack.js'
import { stack, uniqueName, waitFor } from '../support/stack.js'

/**
 * The stack's private cluster (ssl = on, certificate from the stack CA for localhost and 127.0.0.1).
 * It answers plain connections too; only the URL's parameters choose TLS.
 */
describe('Postgres over TLS, as libpq means sslmode', () => {
  const schema = uniqueName('pbtls').toLowerCase()
  let verifyFullUrl: string

  before(async () => {
    await ensurePrivateCluster()
    verifyFullUrl = verifyFull(secureStack.pgPrivateUrl)
    await migrate(verifyFullUrl, schema)
  })
  after(async () => {
    const client = new pg.Client({ connectionString: secureStack.pgPrivateUrl })
    await client.connect()
    await client.query(`drop schema if exists "${schema}" cascade`)
    await client.end()
  })

  const sslInUse = async (url: string): Promise<boolean> => {
    const db = openDatabase(url, 'postbox tls test', 1)
    try {
      const [row] = await db.query<{ ssl: boolean }>(
        'select ssl from pg_stat_ssl where pid = pg_backend_pid()',
        [],
      )
      return row?.ssl === true
    } finally {
      await db.close()
    }
  }

  test('sslmode=verify-full with sslrootcert connects over TLS', async () => {
    assert.equal(await sslInUse(verifyFullUrl), true)
  })

  test('sslmode=verify-full without sslrootcert refuses a certificate from a CA Node does not trust', async () => {
    const untrusted = withQueryParameters(secureStack.pgPrivateUrl, { sslmode: 'verify-full' })
    await assert.rejects(sslInUse(untrusted), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'POSTBOX_CONNECTION_SECURITY')
      assert.match(
        error.message,
        /not trusted \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\): set sslrootcert/,
      )
      return true
    })
  })

  test('sslmode=require encrypts without verifying the certificate (libpq semantics, unlike pg)', async () => {
    assert.equal(await sslInUse(withQueryParameters(secureStack.pgPrivateUrl, { sslmode: 'require' })), true)
  })

  test('sslmode=disable connects in plain text', async () => {
    assert.equal(await sslInUse(withQueryParameters(secureStack.pgPrivateUrl, { sslmode: 'disable' })), false)
  })

  test('the relay claims and marks rows over verify-full and publishes them to Kafka', async () => {
    const topic = uniqueName('pgtls.relay')
    const OrderChanged = orderEvent(topic)
    const knex = knexFactory({ client: 'pg', connection: secureStack.pgPrivateUrl, pool: { min: 0, max: 1 } })
    const relay = new Relay(
      resolveConfig({
        events: [OrderChanged],
        databaseUrl: secureStack.pgPrivateUrl,
        postgres: { sslmode: 'verify-full', sslrootcert: secureStack.caFile },
        schema,
        kafka: { brokers: stack.brokers },
        registry: { url: stack.registryUrl },
        relay: { topicPartitions: 1, pollIntervalMs: 200 },
      }),
      { logger: silentLogger },
    )
    await relay.start()
    try {
      await knex.transaction((trx) =>
        createOutbox({ events: [OrderChanged], schema }).enqueue(trx, OrderChanged, {
          id: 4,
          customer: 'c4',
          total_cents: 4,
          status: 'new',
        }),
      )
      const records = await waitFor('the record', async () => {
        const read = await readTopic(topic)
        return read.length === 1 ? read : undefined
      })
      assert.equal(records[0]?.key, '4')
    } finally {
      await relay.stop()
      await knex.destroy()
    }
  })

  test('postbox status reads libpq variables (PGHOST, PGPORT, PGUSER, PGDATABASE, PGSSLMODE, PGSSLROOTCERT) when DATABASE_URL is absent', async () => {
    const target = new URL(secureStack.pgPrivateUrl)
    const result = await runPostbox(['status', '--json'], {
      databaseUrl: '',
      env: {
        POSTBOX_SCHEMA: schema,
        PGHOST: target.hostname,
        PGPORT: target.port,
        PGUSER: decodeURIComponent(target.username),
        PGDATABASE: decodeURIComponent(target.pathname.slice(1)),
        PGSSLMODE: 'verify-full',
        PGSSLROOTCERT: secureStack.caFile,
      },
    })
    assert.equal(result.code, 0, result.stderr)
    assert.equal(typeof JSON.parse(result.stdout), 'object')

    const untrusted = await runPostbox(['status', '--json'], {
      databaseUrl: '',
      env: {
        POSTBOX_SCHEMA: schema,
        PGHOST: target.hostname,
        PGPORT: target.port,
        PGUSER: decodeURIComponent(target.username),
        PGSSLMODE: 'verify-full',
      },
    })
    assert.equal(untrusted.code, 1)
    assert.match(
      untrusted.stderr,
      /self-signed certificate|unable to verify the first certificate|unable to get local issuer certificate/,
    )
  })
})
