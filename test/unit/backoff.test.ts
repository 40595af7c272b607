import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Backoff } from '../../src/relay/backoff.js'

describe('Backoff', () => {
  test('the ceiling doubles from initialMs on each failure and stops at maxMs', () => {
    const backoff = new Backoff(100, 1000, () => 1)
    assert.deepEqual(
      Array.from({ length: 6 }, () => backoff.next()),
      [100, 200, 400, 800, 1000, 1000],
    )
    assert.equal(backoff.failures, 6)
  })

  test('full jitter picks within the ceiling, never below half of initialMs', () => {
    const backoff = new Backoff(100, 1000, () => 0)
    assert.equal(backoff.next(), 50)
    const half = new Backoff(100, 1000, () => 0.5)
    half.next()
    assert.equal(half.next(), 100)
  })

  test('reset starts over from initialMs', () => {
    const backoff = new Backoff(100, 1000, () => 1)
    backoff.next()
    backoff.next()
    backoff.reset()
    assert.equal(backoff.failures, 0)
    assert.equal(backoff.next(), 100)
  })
})
