import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { runPostbox, startPostbox } from '../support/cli.js'
import { type AuthenticatingProxy, startAuthenticatingProxy } from '../support/https-proxy.js'
import { saslPassword, secureStack, stackFile } from '../support/secure-stack.js'
import { createMigratedDatabase, stack, uniqueName, waitFor } from '../support/stack.js'
import { makeTestCertificates, type TestCertificates } from '../support/tls-files.js'

const REGISTRY_USER = 'reguser'
const REGISTRY_PASSWORD = 'Reg-S3cret-pw'
const WRONG_REGISTRY_PASSWORD = 'Reg-Wr0ng-pw'
// The local server trusts every connection, so any password works: it only has to be printed nowhere.
const DATABASE_PASSWORD = 'Db-S3cret-pw'
const WRONG_SASL_PASSWORD = 'Sasl-Wr0ng-pw'
const CONFIG = 'test/cli/fixtures/orders.config.ts'

describe('secrets are never shown', () => {
  let certificates: TestCertificates
  let proxy: AuthenticatingProxy
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let secrets: string[]
  const topic = uniqueName('secrets')

  before(async () => {
    certificates = makeTestCertificates()
    proxy = await startAuthenticatingProxy(stack.registryUrl, certificates, {
      user: REGISTRY_USER,
      password: REGISTRY_PASSWORD,
    })
    db = await createMigratedDatabase('pbsecrets')
    const basic = (password: string) => Buffer.from(`${REGISTRY_USER}:${password}`).toString('base64')
    secrets = [
      DATABASE_PASSWORD,
      REGISTRY_PASSWORD,
      WRONG_REGISTRY_PASSWORD,
      saslPassword(),
      WRONG_SASL_PASSWORD,
      basic(REGISTRY_PASSWORD),
      basic(WRONG_REGISTRY_PASSWORD),
    ]
  })
  after(async () => {
    await db.drop()
    await proxy.close()
    certificates.remove()
  })

  const databaseUrl = (password: string, port = '5432') => {
    const url = new URL(db.url)
    url.password = password
    url.port = port
    return url.href
  }

  const environment = (
    overrides: { registryPassword?: string; saslPassword?: string; databaseUrl?: string } = {},
  ) => ({
    PBTEST_TOPIC: topic,
    LOG_LEVEL: 'debug',
    DATABASE_URL: overrides.databaseUrl ?? databaseUrl(DATABASE_PASSWORD),
    SCHEMA_REGISTRY_URL: proxy.urlWithCredentials(
      REGISTRY_USER,
      overrides.registryPassword ?? REGISTRY_PASSWORD,
    ),
    SCHEMA_REGISTRY_CA: certificates.caFile,
    KAFKA_BROKERS: secureStack.saslBrokers.join(','),
    KAFKA_SSL: 'true',
    KAFKA_SSL_CA: stackFile(secureStack.caFile),
    KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
    KAFKA_SASL_USERNAME: secureStack.saslUsername,
    KAFKA_SASL_PASSWORD: overrides.saslPassword ?? saslPassword(),
  })

  const commands = [
    ['--help'],
    ['relay', '--help'],
    ['migrate'],
    ['schemas', 'register'],
    ['schemas', 'check', '--json'],
    ['status'],
    ['status', '--json'],
    ['parked', 'list'],
    ['parked', 'list', '--json'],
    ['replay', '--topic', topic, '--dry-run'],
    ['purge', '--sent', '--dry-run', '--json'],
    ['backfill', '--event-type', `order.changed.${topic}`, '--dry-run'],
    ['relay', '--until-drained'],
  ]

  /** `postbox relay --http-port 0` with `env`; /readyz and /metrics are read while it runs. */
  const startRelayProcess = (env: Record<string, string>) =>
    startPostbox(['--config', CONFIG, 'relay', '--http-port', '0'], {
      databaseUrl: env.DATABASE_URL ?? '',
      env,
    })

  /** Runs every command with `env`; returns all they printed and their exit codes. */
  const runAll = async (env: Record<string, string>, only: readonly string[][] = commands) => {
    let printed = ''
    const codes: number[] = []
    for (const args of only) {
      const run = await runPostbox(['--config', CONFIG, ...args], {
        databaseUrl: env.DATABASE_URL ?? '',
        env,
      })
      printed += `\n$ postbox ${args.join(' ')}\n${run.stdout}${run.stderr}`
      codes.push(run.code ?? -1)
    }
    return { printed, codes }
  }

  const assertNoSecret = (printed: string) => {
    for (const secret of secrets) {
      assert.ok(!printed.includes(secret), `"${secret}" was printed:\n${printed}`)
    }
  }

  test('a succeeding run of every command and of the relay with /readyz and /metrics prints no secret', async () => {
    const { printed, codes } = await runAll(environment())
    assert.equal(codes[2], 0, printed)
    assert.equal(codes.at(-1), 0, printed)

    const relay = startRelayProcess(environment())
    const port = await relay.port()
    const readyz = await waitFor('the relay ready', async () => {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`)
      return response.status === 200 ? response.text() : undefined
    })
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    assert.equal(await relay.stop(), 0)
    assert.match(metrics, /postbox_/)
    assertNoSecret(`${printed}${relay.output()}${readyz}${metrics}`)
  })

  test('failing runs (wrong registry and SASL passwords, a database that does not answer) print no secret', async () => {
    // Every command fails on the database; the registry and Kafka failures are shown by the commands that reach them.
    const relayOnce = [['relay', '--until-drained']]
    const wrongRegistry = await runAll(environment({ registryPassword: WRONG_REGISTRY_PASSWORD }), [
      ['schemas', 'register'],
      ['schemas', 'check', '--json'],
      ...relayOnce,
    ])
    assert.deepEqual(wrongRegistry.codes, [1, 1, 1], wrongRegistry.printed)
    assert.match(wrongRegistry.printed, /HTTP 401/)
    const wrongSasl = await runAll(environment({ saslPassword: WRONG_SASL_PASSWORD }), relayOnce)
    assert.deepEqual(wrongSasl.codes, [1], wrongSasl.printed)
    assert.match(wrongSasl.printed, /the broker rejected the SASL credentials/)
    // Without its database the relay retries start-up (shown through /readyz below), so the
    // one-shot commands are what run here.
    const noDatabase = await runAll(
      environment({ databaseUrl: databaseUrl(DATABASE_PASSWORD, '1') }),
      commands.filter((args) => args.join(' ') !== 'relay --until-drained'),
    )
    assert.equal(noDatabase.codes[2], 1, noDatabase.printed)

    // A relay that cannot reach its database keeps retrying and says why on /readyz.
    const relay = startRelayProcess(environment({ databaseUrl: databaseUrl(DATABASE_PASSWORD, '1') }))
    const port = await relay.port()
    const readyz = await waitFor('a reason on /readyz', async () => {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`)
      const body = await response.text()
      return response.status === 503 && /ECONNREFUSED/.test(body) ? body : undefined
    })
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    await relay.stop()
    assertNoSecret(
      [wrongRegistry.printed, wrongSasl.printed, noDatabase.printed, relay.output(), readyz, metrics].join(
        '\n',
      ),
    )
  })
})
