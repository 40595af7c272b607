import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type PostboxSettings, resolveConfig, resolveConnection } from '../../src/config.js'
import { parseSettings } from '../../src/config-schema.js'
import { ConfigError } from '../../src/errors.js'
import { orderEvent } from '../support/events.js'

const FILE = 'postbox.config.mjs'
const Event = orderEvent('unit.config')

const settings = (extra: Record<string, unknown> = {}): PostboxSettings =>
  ({
    events: [Event],
    databaseUrl: 'postgres://u@db.example:5432/shop',
    kafka: { brokers: 'k1:9092, k2:9092' },
    registry: { url: 'http://registry.example:8081' },
    ...extra,
  }) as PostboxSettings

/** Asserts that `run` throws a one-line ConfigError matching `pattern`. */
function refuses(run: () => unknown, pattern: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`)
    assert.match(error.message, pattern)
    assert.equal(error.message.includes('\n'), false, `more than one line: ${error.message}`)
    return true
  })
}

describe('settings validation', () => {
  test('an unknown key is refused, naming the key and the file', () => {
    refuses(
      () => parseSettings(settings({ relay: { pollIntervalMS: 500 } }), FILE),
      /^postbox\.config\.mjs: unknown key relay\.pollIntervalMS/,
    )
    refuses(
      () => parseSettings(settings({ databaseURL: 'x' }), FILE),
      /^postbox\.config\.mjs: unknown key databaseURL/,
    )
  })

  test('a wrong type is refused, naming the key and the value', () => {
    refuses(
      () => parseSettings(settings({ relay: { batchSize: '500' } }), FILE),
      /^postbox\.config\.mjs: relay\.batchSize "500": expected a positive whole number/,
    )
    refuses(() => parseSettings(settings({ relay: { listen: 'yes' } }), FILE), /relay\.listen "yes"/)
  })

  test('an out-of-range number is refused, naming the key', () => {
    refuses(
      () => parseSettings(settings({ relay: { batchSize: 0 } }), FILE),
      /relay\.batchSize 0: expected a positive whole number/,
    )
    refuses(
      () => parseSettings(settings({ relay: { httpPort: 70000 } }), FILE),
      /relay\.httpPort 70000: expected a TCP port 0 … 65535/,
    )
    refuses(() => parseSettings(settings({ relay: { leaseTtlMs: 1.5 } }), FILE), /relay\.leaseTtlMs 1\.5/)
  })

  test('an entry of events that is not a defineEvent() result is refused, naming its index', () => {
    refuses(
      () => parseSettings({ events: [{}] }, FILE),
      /^postbox\.config\.mjs: events\[0\] \{\}: expected an event made with defineEvent\(\)/,
    )
    refuses(
      () => parseSettings({ events: [Event, null] }, FILE),
      /^postbox\.config\.mjs: events\[1\] null: expected an event/,
    )
  })

  test('an unknown log level, delivery mode or retention setting is refused', () => {
    refuses(() => parseSettings(settings({ logLevel: 'verbose' }), FILE), /logLevel "verbose"/)
    refuses(
      () => parseSettings(settings({ relay: { delivery: 'at-most-once' } }), FILE),
      /relay\.delivery "at-most-once"/,
    )
    refuses(
      () => parseSettings(settings({ relay: { retention: { sentOlderThan: 'a week' } } }), FILE),
      /relay\.retention\.sentOlderThan "a week": expected a duration/,
    )
    refuses(
      () =>
        parseSettings(settings({ relay: { retention: { sentOlderThan: '7d', schedule: 'often' } } }), FILE),
      /relay\.retention\.schedule "often": expected a cron expression/,
    )
  })

  test('valid settings pass unchanged', () => {
    const valid = settings({
      relay: { batchSize: 10, httpPort: null, retention: null, delivery: 'exactly-once' },
    })
    assert.equal(parseSettings(valid, FILE), valid)
  })
})

describe('resolveConnection', () => {
  test('fills the documented defaults once', () => {
    const connection = resolveConnection({})
    assert.equal(connection.schema, 'postbox')
    assert.equal(connection.logLevel, 'info')
    assert.deepEqual(connection.kafka, { brokers: [], clientId: 'postbox' })
    assert.equal(connection.databaseUrl, undefined)
    assert.equal(connection.registryUrl, undefined)
  })

  test('splits and trims a comma-separated broker list', () => {
    assert.deepEqual(resolveConnection(settings()).kafka.brokers, ['k1:9092', 'k2:9092'])
  })

  test('refuses a schema name that is not an identifier and an unknown log level', () => {
    assert.throws(() => resolveConnection({ schema: 'x; drop table y' }), ConfigError)
    refuses(() => resolveConnection({ logLevel: 'loud' as 'info' }), /"loud" is not a log level/)
  })
})

describe('resolveConfig', () => {
  test('keeps its defaults', () => {
    const config = resolveConfig(settings())
    assert.equal(config.schema, 'postbox')
    assert.equal(config.relay.batchSize, 2000)
    assert.equal(config.relay.delivery, 'at-least-once')
    assert.equal(config.relay.pollIntervalMs, 1000)
    assert.equal(config.relay.minPollIntervalMs, 20)
    assert.equal(config.relay.leaseTtlMs, 10_000)
    assert.equal(config.relay.heartbeatMs, 2500)
    assert.equal(config.relay.maxMessageBytes, 1_000_000)
    assert.deepEqual(config.relay.backoff, { initialMs: 100, maxMs: 10_000 })
    assert.equal(config.relay.httpPort, null)
    assert.equal(config.relay.delivery, 'at-least-once')
    assert.equal(config.relay.transactionalIdPrefix, null, 'the relay derives it from the Postgres cluster')
    assert.equal(config.relay.retention, null)
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.relay))
  })

  test('exactly-once takes larger batches by default; a batch size that is set applies to both modes', () => {
    const eos = (relay: Record<string, unknown>) => resolveConfig(settings({ relay }))
    assert.equal(eos({ delivery: 'exactly-once' }).relay.batchSize, 8000)
    assert.equal(eos({ delivery: 'at-least-once' }).relay.batchSize, 2000)
    assert.equal(eos({ delivery: 'exactly-once', batchSize: 500 }).relay.batchSize, 500)
    assert.equal(eos({ batchSize: 500 }).relay.batchSize, 500)
  })

  test('resolves retention with its default schedule and batch size', () => {
    const config = resolveConfig(settings({ relay: { retention: { sentOlderThan: '2h' } } }))
    assert.deepEqual(config.relay.retention, {
      sentOlderThanMs: 7_200_000,
      schedule: '*/10 * * * *',
      batchSize: 1000,
    })
  })

  test('refuses missing connection settings, naming the variable to set', () => {
    refuses(() => resolveConfig(settings({ databaseUrl: undefined })), /DATABASE_URL/)
    refuses(() => resolveConfig(settings({ kafka: {} })), /KAFKA_BROKERS/)
    refuses(() => resolveConfig(settings({ registry: {} })), /SCHEMA_REGISTRY_URL/)
    refuses(() => resolveConfig(settings({ events: [] })), /`events` must list at least one event/)
  })

  test('refuses a backoff whose maximum is below its start', () => {
    refuses(
      () => resolveConfig(settings({ relay: { backoff: { initialMs: 500, maxMs: 100 } } })),
      /maxMs must be at least/,
    )
  })

  test('names the settings source in its errors', () => {
    refuses(
      () => resolveConfig(settings({ relay: { pollIntervalMS: 5 } })),
      /^the settings: unknown key relay\.pollIntervalMS/,
    )
  })
})
