import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { describeError, UnavailableError, UnpublishableError, ValidationError } from '../../src/errors.js'

describe('describeError', () => {
  test('an error without a cause is its message', () => {
    assert.equal(describeError(new Error('disk full')), 'disk full')
  })

  test('each cause follows its error once, outermost first', () => {
    const root = new Error('connect ECONNREFUSED 127.0.0.1:5432')
    const middle = new UnavailableError('postgres', 'cannot reach the server', { cause: root })
    const outer = new UnpublishableError('batch stopped', { cause: middle })
    assert.equal(
      describeError(outer),
      'batch stopped (cause: postgres: cannot reach the server: connect ECONNREFUSED 127.0.0.1:5432)',
    )
  })

  test('a cause whose text the message already holds is not printed again', () => {
    const cause = new Error('poison pill')
    const error = new UnpublishableError('refused: poison pill', { cause })
    assert.equal(describeError(error), 'refused: poison pill')
  })

  test('a thrown value that is not an Error is printed as text, also as a cause', () => {
    assert.equal(describeError('plain text'), 'plain text')
    assert.equal(describeError(42), '42')
    const error = new ValidationError('order.placed', '(mapping)', 'toExternal threw', {
      cause: 'no customer',
    })
    assert.equal(describeError(error), 'order.placed: toExternal threw (cause: no customer)')
  })

  test('an AggregateError without a message shows the messages of its errors', () => {
    const refused = new AggregateError(
      [new Error('connect ECONNREFUSED ::1:5432'), new Error('connect ECONNREFUSED 127.0.0.1:5432')],
      '',
    )
    const error = new UnavailableError('postgres', 'cannot reach the server', { cause: refused })
    assert.equal(
      describeError(error),
      'postgres: cannot reach the server (cause: connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432)',
    )
  })

  test('a cause chain that loops back on itself ends', () => {
    const a = new Error('a')
    const b = new Error('b', { cause: a })
    a.cause = b
    assert.equal(describeError(a), 'a (cause: b)')
  })
})
