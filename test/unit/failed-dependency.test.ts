import assert from 'node:assert/strict'
import { test } from 'node:test'
import { classifyPgError } from '../../src/db/errors.js'
import { LeaseLostError, SchemaError, UnavailableError, UnpublishableError } from '../../src/errors.js'
import { failedDependency } from '../../src/relay/failed-dependency.js'

test('an UnavailableError is counted against the dependency it names', () => {
  for (const dependency of ['postgres', 'kafka', 'registry'] as const)
    assert.equal(failedDependency(new UnavailableError(dependency, 'down')), dependency)
})

test('a schema the registry refuses is a registry failure, and a fenced producer a Kafka one', () => {
  assert.equal(failedDependency(new SchemaError('incompatible')), 'registry')
  assert.equal(failedDependency(new LeaseLostError([3])), 'kafka')
})

test('Postgres errors, classified at the edge, count against postgres', () => {
  const serverError = Object.assign(new Error('relation "outbox" does not exist'), {
    code: '42P01',
    severity: 'ERROR',
  })
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })
  assert.equal(failedDependency(classifyPgError(serverError)), 'postgres')
  assert.equal(failedDependency(classifyPgError(refused)), 'postgres')
  assert.equal(failedDependency(classifyPgError(new Error('Connection terminated unexpectedly'))), 'postgres')
})

test('a failure no dependency explains is "other"', () => {
  assert.equal(failedDependency(new TypeError('x is undefined')), 'other')
  assert.equal(failedDependency(new UnpublishableError('too large')), 'other')
  assert.equal(failedDependency('a string'), 'other')
})
