import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { FencedError, UnavailableError, UnpublishableError } from '../../src/errors.js'
import { classifyKafkaError } from '../../src/kafka/classify.js'

// Errors shaped as kafkajs builds them (src/errors.js, src/protocol/error.js): a broker error code
// becomes a KafkaJSProtocolError (type, code, retriable); its retrier wraps failures in
// KafkaJSNonRetriableError or KafkaJSNumberOfRetriesExceeded with the original as `cause`.
function protocolError(type: string, code: number, retriable: boolean): Error {
  return Object.assign(new Error(`broker says ${type}`), {
    name: 'KafkaJSProtocolError',
    type,
    code,
    retriable,
  })
}

function wrapped(name: string, cause: Error): Error {
  const retriable = name !== 'KafkaJSNonRetriableError' && name !== 'KafkaJSNumberOfRetriesExceeded'
  return Object.assign(new Error(cause.message, { cause }), { name, retriable })
}

const refusals: [string, number, boolean][] = [
  ['MESSAGE_TOO_LARGE', 10, false],
  ['RECORD_LIST_TOO_LARGE', 18, false],
  ['INVALID_RECORD', 87, false],
  ['CORRUPT_MESSAGE', 2, true],
]
const fencing: [string, number, boolean][] = [
  ['INVALID_PRODUCER_EPOCH', 47, false],
  // kafkajs 2.2.4's table stops before code 90: the broker's PRODUCER_FENCED arrives as an unknown code.
  ['KAFKAJS_UNKNOWN_ERROR_CODE', 90, false],
]
const backOff: [string, number, boolean][] = [
  ['TOPIC_AUTHORIZATION_FAILED', 29, false],
  ['CLUSTER_AUTHORIZATION_FAILED', 31, false],
  ['TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 53, false],
  ['POLICY_VIOLATION', 44, false],
  ['OUT_OF_ORDER_SEQUENCE_NUMBER', 45, false],
  ['UNKNOWN_TOPIC_OR_PARTITION', 3, true],
  ['NOT_ENOUGH_REPLICAS', 19, true],
  ['UNKNOWN', -1, false],
  ['KAFKAJS_UNKNOWN_ERROR_CODE', 99, false],
]

describe('classifyKafkaError: one verdict for both producers', () => {
  for (const [type, code, retriable] of refusals) {
    test(`${type} refuses the record: the row is parked`, () => {
      const error = classifyKafkaError(
        wrapped('KafkaJSNonRetriableError', protocolError(type, code, retriable)),
        'publishing',
      )
      assert.ok(error instanceof UnpublishableError, error.constructor.name)
      assert.match(error.message, new RegExp(type))
    })
  }

  for (const [type, code, retriable] of fencing) {
    test(`${type} (code ${code}) is fencing: a newer producer holds the transactional id`, () => {
      const error = classifyKafkaError(protocolError(type, code, retriable), 'publishing in transaction t.0')
      assert.ok(error instanceof FencedError, error.constructor.name)
    })
  }

  for (const [type, code, retriable] of backOff) {
    test(`${type} backs off and parks nothing`, () => {
      const error = classifyKafkaError(
        wrapped('KafkaJSNonRetriableError', protocolError(type, code, retriable)),
        'publishing',
      )
      assert.ok(error instanceof UnavailableError, error.constructor.name)
      assert.equal(error.dependency, 'kafka')
      assert.equal(error.retriable, true)
      assert.match(error.message, new RegExp(type), 'the reason names the broker error')
    })
  }

  test('a refusal found under two layers of retry wrappers still parks the row', () => {
    const error = classifyKafkaError(
      wrapped(
        'KafkaJSNumberOfRetriesExceeded',
        wrapped('KafkaJSNonRetriableError', protocolError('CORRUPT_MESSAGE', 2, true)),
      ),
      'publishing',
    )
    assert.ok(error instanceof UnpublishableError)
  })

  test('a lost connection and an unknown error back off', () => {
    const connection = Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092'), {
      name: 'KafkaJSConnectionError',
      retriable: true,
      code: 'ECONNREFUSED',
    })
    for (const cause of [
      wrapped('KafkaJSNumberOfRetriesExceeded', connection),
      new TypeError('x is undefined'),
      'a string',
    ]) {
      const error = classifyKafkaError(cause, 'publishing')
      assert.ok(error instanceof UnavailableError)
    }
  })

  test('a message that merely mentions "fenced" or "epoch" is not fencing', () => {
    const error = classifyKafkaError(new Error('producer epoch fenced?'), 'publishing')
    assert.ok(error instanceof UnavailableError)
  })

  test('the message does not repeat the cause; the cause is attached once', () => {
    const cause = protocolError('TOPIC_AUTHORIZATION_FAILED', 29, false)
    const error = classifyKafkaError(cause, 'publishing')
    assert.equal(error.cause, cause)
    assert.ok(!error.message.includes(cause.message))
  })
})
