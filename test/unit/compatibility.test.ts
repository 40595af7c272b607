import assert from 'node:assert/strict'
import { test } from 'node:test'
import { compatibilityProblems } from '../../src/cli/compatibility.js'
import { compileSchema } from '../../src/schema/codec.js'

const record = (fields: readonly object[]) =>
  compileSchema({ type: 'record', name: 'Order', namespace: 'unit', fields } as never)

const v1 = record([{ name: 'id', type: 'string' }])
const withDefault = record([
  { name: 'id', type: 'string' },
  { name: 'note', type: 'string', default: '' },
])
const withoutDefault = record([
  { name: 'id', type: 'string' },
  { name: 'total', type: 'long' },
])
const idRemoved = record([{ name: 'note', type: 'string', default: '' }])

test('adding a field with a default is compatible under every level', () => {
  for (const level of ['BACKWARD', 'FORWARD', 'FULL', 'NONE'] as const) {
    assert.deepEqual(compatibilityProblems(withDefault, [{ version: 1, codec: v1 }], level), [], level)
  }
})

test('adding a field without a default breaks BACKWARD and FULL, naming the version it cannot read', () => {
  const problems = compatibilityProblems(withoutDefault, [{ version: 1, codec: v1 }], 'BACKWARD')
  assert.equal(problems.length, 1)
  assert.match(problems[0] ?? '', /^the new schema cannot read data written with version 1: .*total/)
  assert.equal(compatibilityProblems(withoutDefault, [{ version: 1, codec: v1 }], 'FULL').length, 1)
  assert.deepEqual(compatibilityProblems(withoutDefault, [{ version: 1, codec: v1 }], 'FORWARD'), [])
})

test('removing a field old readers need breaks FORWARD, naming the readers of that version', () => {
  const problems = compatibilityProblems(idRemoved, [{ version: 2, codec: withDefault }], 'FORWARD')
  assert.equal(problems.length, 1)
  assert.match(problems[0] ?? '', /^readers of version 2 cannot read data written with the new schema: .*id/)
  assert.deepEqual(compatibilityProblems(idRemoved, [{ version: 2, codec: withDefault }], 'BACKWARD'), [])
})

test('every version given is checked, so transitive levels report each one that breaks', () => {
  const versions = [
    { version: 1, codec: v1 },
    { version: 2, codec: withDefault },
  ]
  const problems = compatibilityProblems(idRemoved, versions, 'FULL_TRANSITIVE')
  assert.deepEqual(
    problems.map((p) => /version (\d+)/.exec(p)?.[1]),
    ['1', '2'],
  )
})

test('NONE reports nothing, whatever changed', () => {
  assert.deepEqual(compatibilityProblems(idRemoved, [{ version: 1, codec: withoutDefault }], 'NONE'), [])
})
