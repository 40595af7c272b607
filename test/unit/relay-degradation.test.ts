import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { UnavailableError } from '../../src/errors.js'
import { Degradation } from '../../src/relay/degradation.js'
import { recordingLogger } from './relay-fakes.js'

describe('Degradation: why the relay is not publishing', () => {
  test('logs when a failure starts, when its reason changes and when it recovers, not on every retry', () => {
    let now = 0
    const logger = recordingLogger()
    const state = new Degradation(logger, { now: () => now })
    const denied = new UnavailableError('kafka', 'publishing failed (TOPIC_AUTHORIZATION_FAILED)')
    const down = new UnavailableError('kafka', 'publishing failed (KafkaJSConnectionError)')
    for (let i = 0; i < 5; i++) state.failed('relay loop', denied, { retriable: true, retryInMs: 10 })
    assert.match(state.reason ?? '', /TOPIC_AUTHORIZATION_FAILED/)
    state.failed('relay loop', down, { retriable: true, retryInMs: 10 })
    state.failed('relay loop', down, { retriable: true, retryInMs: 10 })
    now = 4000
    state.recovered()
    assert.equal(state.reason, null)
    assert.deepEqual(
      logger.lines.map((l) => [l.level, l.message]),
      [
        ['warn', 'relay loop failed; retrying with backoff'],
        ['warn', 'relay loop failed; retrying with backoff'],
        ['info', 'recovered; publishing again'],
      ],
    )
    assert.deepEqual(logger.lines[2]?.fields, { downSeconds: 4, attempts: 7 })
  })

  test('a relay that is starting is not ready, and its first success logs no recovery', () => {
    const logger = recordingLogger()
    const state = new Degradation(logger, { now: () => 0 })
    assert.equal(state.reason, 'starting')
    state.recovered()
    assert.equal(state.reason, null)
    assert.deepEqual(logger.lines, [])
  })
})
