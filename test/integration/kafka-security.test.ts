import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import knexFactory, { type Knex } from 'knex'
import { ConnectionSecurityError } from '../../src/index.js'
import { silentLogger } from '../../src/observe/logger.js'
import {
  type KafkaSecuritySettings,
  type PostboxSettings,
  Relay,
  resolveConfig,
} from '../../src/relay-api.js'
import { readPublished } from '../../src/testing.js'
import { runPostbox } from '../support/cli.js'
import { orderEvent } from '../support/events.js'
import { outboxFor, startFailure } from '../support/relay.js'
import { saslPassword, secureStack, stackFile } from '../support/secure-stack.js'
import { createMigratedDatabase, stack, uniqueName, waitFor } from '../support/stack.js'

/** The stack's SASL_SSL listener: SCRAM-SHA-512 over TLS with a certificate from the stack's CA. */
describe('Kafka over SASL_SSL (SCRAM-SHA-512, the stack CA)', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let knex: Knex
  let security: KafkaSecuritySettings

  before(async () => {
    security = {
      ssl: { ca: stackFile(secureStack.caFile) },
      sasl: { mechanism: 'scram-sha-512', username: secureStack.saslUsername, password: saslPassword() },
    }
    db = await createMigratedDatabase('pbsasl')
    knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 2 } })
  })
  after(async () => {
    await knex.destroy()
    await db.drop()
  })

  const settings = (
    topic: string,
    kafka: KafkaSecuritySettings,
    delivery: 'at-least-once' | 'exactly-once' = 'at-least-once',
    createTopics = true,
  ): PostboxSettings => ({
    events: [orderEvent(topic)],
    databaseUrl: db.url,
    kafka: { brokers: secureStack.saslBrokers, ...kafka },
    registry: { url: stack.registryUrl },
    relay: {
      topicPartitions: 2,
      pollIntervalMs: 200,
      delivery,
      transactionalIdPrefix: `${topic}.tx`,
      createTopics,
    },
  })

  for (const delivery of ['at-least-once', 'exactly-once'] as const) {
    test(`the relay publishes through SASL_SSL (${delivery}) and postbox/testing reads the records back through it`, async () => {
      const topic = uniqueName(`sasl.${delivery}`)
      const OrderChanged = orderEvent(topic)
      const relay = new Relay(resolveConfig(settings(topic, security, delivery)), { logger: silentLogger })
      await relay.start()
      try {
        const outbox = outboxFor([OrderChanged])
        await knex.transaction(async (trx) => {
          for (const id of [1, 2, 3]) {
            await outbox.enqueue(trx, OrderChanged, {
              id,
              customer: `c${id}`,
              total_cents: id,
              status: 'new',
            })
          }
        })
        const connection = { brokers: secureStack.saslBrokers, registryUrl: stack.registryUrl, ...security }
        const records = await waitFor('three records over SASL_SSL', async () => {
          const read = await readPublished(connection, topic)
          return read.length === 3 ? read : undefined
        })
        assert.deepEqual(records.map((r) => r.key).sort(), ['1', '2', '3'])
      } finally {
        await relay.stop()
      }
    })
  }

  for (const createTopics of [true, false]) {
    test(`a wrong SASL password stops the relay at start-up with one line naming the SASL settings (createTopics: ${createTopics})`, async () => {
      const error = await startFailure(
        settings(
          uniqueName('sasl.wrong'),
          {
            ...security,
            sasl: {
              mechanism: 'SCRAM-SHA-512',
              username: secureStack.saslUsername,
              password: 'Wrong-Kafka-Pa55',
            },
          },
          'at-least-once',
          createTopics,
        ),
      )
      assert.ok(error instanceof ConnectionSecurityError, String(error))
      assert.equal(error.retriable, false)
      assert.match(error.message, /^kafka: the broker rejected the SASL credentials/)
      assert.match(error.message, /KAFKA_SASL_PASSWORD/)
      assert.doesNotMatch(error.message, /Wrong-Kafka-Pa55|\n/)
    })
  }

  test('a broker certificate from a CA the relay does not trust stops it at start-up, naming kafka.ssl.ca', async () => {
    const error = await startFailure(settings(uniqueName('sasl.untrusted'), { ...security, ssl: true }))
    assert.ok(error instanceof ConnectionSecurityError, String(error))
    assert.equal(error.retriable, false)
    assert.match(
      error.message,
      /^kafka: the server's certificate is not trusted \(\w+\): set kafka\.ssl\.ca \(KAFKA_SSL_CA\)/,
    )
  })

  test('a SASL mechanism the listener does not enable stops the relay at start-up, naming kafka.sasl.mechanism', async () => {
    const error = await startFailure(
      settings(uniqueName('sasl.mechanism'), {
        ...security,
        sasl: { mechanism: 'scram-sha-256', username: secureStack.saslUsername, password: saslPassword() },
      }),
    )
    assert.ok(error instanceof ConnectionSecurityError, String(error))
    assert.match(
      error.message,
      /UNSUPPORTED_SASL_MECHANISM\): set kafka\.sasl\.mechanism \(KAFKA_SASL_MECHANISM\)/,
    )
  })

  test('postbox relay reads KAFKA_SSL_CA and KAFKA_SASL_* from the environment; a wrong password exits 1 with one line', async () => {
    const topic = uniqueName('sasl.cli')
    const OrderChanged = orderEvent(topic)
    await knex.transaction((trx) =>
      outboxFor([OrderChanged]).enqueue(trx, OrderChanged, {
        id: 9,
        customer: 'c9',
        total_cents: 9,
        status: 'new',
      }),
    )
    const relay = (password: string) =>
      runPostbox(['--config', 'test/cli/fixtures/orders.config.ts', 'relay', '--until-drained'], {
        databaseUrl: db.url,
        env: {
          PBTEST_TOPIC: topic,
          KAFKA_BROKERS: secureStack.saslBrokers.join(','),
          KAFKA_SSL: 'true',
          KAFKA_SSL_CA: secureStack.caFile,
          KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
          KAFKA_SASL_USERNAME: secureStack.saslUsername,
          KAFKA_SASL_PASSWORD: password,
        },
      })
    const refused = await relay('Wrong-Kafka-Pa55')
    assert.equal(refused.code, 1)
    // The relay reports its last words as one JSON log line (error level, with the exit code).
    const lines = refused.stderr.trimEnd().split('\n')
    assert.equal(lines.length, 1, refused.stderr)
    const last = JSON.parse(lines[0] ?? '') as { level: number; msg: string; exitCode: number }
    assert.equal(last.level, 50)
    assert.equal(last.exitCode, 1)
    assert.match(last.msg, /^kafka: the broker rejected the SASL credentials .*: check kafka\.sasl/)
    assert.doesNotMatch(refused.stderr + refused.stdout, /Wrong-Kafka-Pa55/)

    const drained = await relay(saslPassword())
    assert.equal(drained.code, 0, drained.stderr)
    const records = await readPublished(
      { brokers: secureStack.saslBrokers, registryUrl: stack.registryUrl, ...security },
      topic,
    )
    assert.deepEqual(
      records.map((r) => r.key),
      ['9'],
    )
  })
})
