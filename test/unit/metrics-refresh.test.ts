// When the relay's backlog gauges query the outbox again: the query scans every pending row, so
// its answer is kept longer the longer it took.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { statusRefreshDue } from '../../src/observe/metrics.js'

describe('backlog gauge refresh', () => {
  test('never queried yet: due at once', () => {
    assert.equal(statusRefreshDue(0, { at: Number.NEGATIVE_INFINITY, tookMs: 0 }, 2000), true)
  })

  test('a quick query is reused for the maximum age, no longer', () => {
    const last = { at: 10_000, tookMs: 5 }
    assert.equal(statusRefreshDue(11_999, last, 2000), false)
    assert.equal(statusRefreshDue(12_000, last, 2000), true)
  })

  test('a slow query (a large backlog) is reused for 20 times its duration', () => {
    const last = { at: 10_000, tookMs: 300 }
    assert.equal(statusRefreshDue(12_000, last, 2000), false)
    assert.equal(statusRefreshDue(15_999, last, 2000), false)
    assert.equal(statusRefreshDue(16_000, last, 2000), true)
  })

  test('a maximum age of 0 queries at every scrape', () => {
    assert.equal(statusRefreshDue(10_001, { at: 10_000, tookMs: 300 }, 0), true)
  })
})
