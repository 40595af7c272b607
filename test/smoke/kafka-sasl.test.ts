import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { Kafka, logLevel, type SASLOptions } from 'kafkajs'
import { uniqueName } from '../support/stack.js'

/**
 * The broker's SASL_SSL listener (scripts/stack: SCRAM-SHA-512 over TLS, certificate from the
 * stack's CA) accepts the stack's user and refuses a wrong password and an untrusted CA.
 * Addresses and files come from `scripts/stack env`, which scripts/with-stack exports.
 */
const stackDir = process.env.STACK_DIR ?? '.stack'
const sasl = {
  brokers: (process.env.STACK_SASL_BROKERS ?? '127.0.0.1:9094').split(','),
  ca: readFileSync(process.env.STACK_TLS_CA ?? `${stackDir}/tls/ca.pem`, 'utf8'),
  username: process.env.STACK_SASL_USERNAME ?? 'postbox',
  password: readFileSync(
    process.env.STACK_SASL_PASSWORD_FILE ?? `${stackDir}/tls/postbox.password`,
    'utf8',
  ).trim(),
}

/** A client of the SASL_SSL listener; the refusal tests try once, the others retry as usual. */
function client(options: { ca?: string; password?: string; once?: boolean } = {}): Kafka {
  const credentials: SASLOptions = {
    mechanism: 'scram-sha-512',
    username: sasl.username,
    password: options.password ?? sasl.password,
  }
  return new Kafka({
    clientId: 'smoke-sasl',
    brokers: sasl.brokers,
    ssl: { ca: [options.ca ?? sasl.ca] },
    sasl: credentials,
    logLevel: logLevel.NOTHING,
    // A TLS handshake plus SCRAM's round trips take longer than kafkajs' 1 s default on a busy box.
    connectionTimeout: 10_000,
    authenticationTimeout: 10_000,
    ...(options.once ? { retry: { retries: 0 } } : {}),
  })
}

/** A CA that signed nothing the stack serves. */
function untrustedCa(): string {
  const result = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      '/dev/null',
      '-subj',
      '/CN=Untrusted CA',
      '-days',
      '1',
    ],
    { encoding: 'utf8' },
  )
  assert.equal(result.status, 0, `openssl failed: ${result.stderr}`)
  return result.stdout
}

describe('Kafka SASL_SSL listener smoke', () => {
  const kafka = client()
  const admin = kafka.admin()
  const topic = uniqueName('smoke_sasl')

  before(async () => {
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
  })
  after(async () => admin.disconnect())

  test('an idempotent and a transactional producer publish over SCRAM-SHA-512 + TLS, a consumer reads both back', async () => {
    const idempotent = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await idempotent.connect()
    await idempotent.send({ topic, acks: -1, messages: [{ key: 'k', value: 'idem-1' }] })
    await idempotent.disconnect()
    const transactional = kafka.producer({
      transactionalId: uniqueName('tx'),
      idempotent: true,
      maxInFlightRequests: 1,
    })
    await transactional.connect()
    const tx = await transactional.transaction()
    await tx.send({ topic, messages: [{ key: 'k', value: 'tx-1' }] })
    await tx.commit()
    await transactional.disconnect()

    const consumer = kafka.consumer({ groupId: uniqueName('g') })
    const seen: string[] = []
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${seen.length} of 2 messages`)), 30_000)
      void consumer.run({
        eachMessage: async ({ message }) => {
          seen.push(message.value?.toString() ?? 'null')
          if (seen.length >= 2) {
            clearTimeout(timer)
            resolve()
          }
        },
      })
    })
    await consumer.disconnect()
    assert.deepEqual(seen, ['idem-1', 'tx-1'])
  })

  test('a wrong password is refused with a SASL authentication error', async () => {
    const producer = client({ password: `${sasl.password}-wrong`, once: true }).producer()
    await assert.rejects(producer.connect(), (error: Error) => {
      assert.equal(error.name, 'KafkaJSSASLAuthenticationError', `${error.name}: ${error.message}`)
      assert.match(error.message, /SCRAM-SHA-512|authentication/i)
      return true
    })
  })

  test('a client that trusts another CA refuses the broker certificate', async () => {
    const producer = client({ ca: untrustedCa(), once: true }).producer()
    await assert.rejects(producer.connect(), (error: Error) => {
      assert.match(error.message, /certificate/i, `${error.name}: ${error.message}`)
      return true
    })
  })
})
