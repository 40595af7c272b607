import assert from 'node:assert/strict'
import { test } from 'node:test'

test('"postbox" exports the write path: defineEvent, createOutbox and the errors, nothing of the relay', async () => {
  const writePath = await import('../../src/index.js')
  assert.deepEqual(Object.keys(writePath).sort(), [
    'ConfigError',
    'ConnectionSecurityError',
    'DatabaseError',
    'FencedError',
    'LeaseLostError',
    'MigrationError',
    'PostboxError',
    'SchemaError',
    'UnavailableError',
    'UnknownEventError',
    'UnpublishableError',
    'ValidationError',
    'createOutbox',
    'defineEvent',
  ])
})

test('"postbox/relay" exports the relay, its configuration, migrate, metrics and the HTTP server', async () => {
  const relay: Record<string, unknown> = await import('../../src/relay-api.js')
  for (const name of ['Relay', 'resolveConfig', 'migrate', 'createRelayMetrics', 'serveRelayHttp'])
    assert.equal(typeof relay[name], 'function', name)
})

test('every error class "postbox" exports is a PostboxError, so one catch covers them all', async () => {
  const { PostboxError, ...writePath } = await import('../../src/index.js')
  const errors = Object.entries(writePath).filter(([name]) => name.endsWith('Error'))
  assert.equal(errors.length, 11)
  for (const [name, value] of errors) assert.ok(value.prototype instanceof PostboxError, name)
})
