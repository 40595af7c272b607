import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Wakeup } from '../../src/relay/wakeup.js'

describe('Wakeup', () => {
  test('a sleep with no notification runs out and reports it was not woken', async () => {
    assert.equal(await new Wakeup().sleep(5), false)
  })

  test('a notification ends a sleep in progress', async () => {
    const wakeup = new Wakeup()
    const sleeping = wakeup.sleep(60_000)
    wakeup.notify()
    assert.equal(await sleeping, true)
  })

  test('a notification before the sleep makes the next sleep return at once, only once', async () => {
    const wakeup = new Wakeup()
    wakeup.notify()
    assert.equal(await wakeup.sleep(60_000), true)
    assert.equal(await wakeup.sleep(5), false)
  })
})
