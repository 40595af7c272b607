import { tlsFailureCode, tlsFix } from '../connect/tls.js'
import {
  ConnectionSecurityError,
  FencedError,
  type PostboxError,
  UnavailableError,
  UnpublishableError,
} from '../errors.js'

/** Kafka refused these records for good: park the row, never retry it as is. */
const RECORD_REFUSALS = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
])

/**
 * A newer producer holds the transactional id. PRODUCER_FENCED (code 90) is newer than kafkajs's
 * error table, so it arrives as an unknown code. TRANSACTIONAL_ID_AUTHORIZATION_FAILED is not
 * here: it says the principal lacks an ACL, not that anyone else owns the id, and giving the shard
 * up would only move the same failure to another relay.
 */
const FENCING = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED'])
const FENCING_CODES = new Set([47, 90])

interface ProtocolFailure {
  type: string
  code: number | undefined
}

/** kafkajs wraps a broker's error code (KafkaJSProtocolError: type, code) in retry errors' `cause`. */
function protocolFailure(error: unknown): ProtocolFailure | null {
  let current: unknown = error
  for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth++) {
    const e = current as { type?: unknown; code?: unknown; cause?: unknown }
    if (typeof e.type === 'string') {
      return { type: e.type, code: typeof e.code === 'number' ? e.code : undefined }
    }
    if (e.cause === current) break
    current = e.cause
  }
  return null
}

/** The error and its causes, outermost first. */
function* causes(error: unknown): Generator<{ name?: unknown; message?: unknown; type?: unknown }> {
  let current: unknown = error
  for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth++) {
    yield current as { name?: unknown; message?: unknown; type?: unknown }
    const next = (current as { cause?: unknown }).cause
    if (next === current) return
    current = next
  }
}

const SASL_SETTINGS = 'kafka.sasl (KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD)'

/**
 * Failures no retry can fix, each with the setting to change: the broker rejected the SASL
 * credentials, does not offer the SASL mechanism, or presented a certificate we do not trust.
 * Null for every other failure.
 */
export function kafkaSecurityFailure(error: unknown): ConnectionSecurityError | null {
  const fail = (message: string) => new ConnectionSecurityError('kafka', message, { cause: error })
  for (const e of causes(error)) {
    const message = typeof e.message === 'string' ? e.message : ''
    if (e.type === 'UNSUPPORTED_SASL_MECHANISM' || /mechanism is not supported/i.test(message)) {
      return fail(
        `the broker does not offer this SASL mechanism (UNSUPPORTED_SASL_MECHANISM): set kafka.sasl.mechanism (KAFKA_SASL_MECHANISM) to one the listener enables`,
      )
    }
    if (
      e.name === 'KafkaJSSASLAuthenticationError' ||
      e.type === 'SASL_AUTHENTICATION_FAILED' ||
      e.type === 'ILLEGAL_SASL_STATE'
    ) {
      return fail(`the broker rejected the SASL credentials (${message}): check ${SASL_SETTINGS}`)
    }
  }
  const tls = tlsFailureCode(error)
  return tls === null
    ? null
    : fail(
        tlsFix(tls, {
          ca: 'kafka.ssl.ca (KAFKA_SSL_CA)',
          host: 'kafka.brokers (KAFKA_BROKERS)',
          clientCertificate: 'kafka.ssl.cert and kafka.ssl.key (KAFKA_SSL_CERT, KAFKA_SSL_KEY)',
        }),
      )
}

/** The broker's error type when there is one (e.g. TOPIC_AUTHORIZATION_FAILED), else the error's name. */
export function kafkaFailureName(error: unknown): string {
  return protocolFailure(error)?.type ?? (error instanceof Error ? error.name : typeof error)
}

/**
 * The one verdict on a Kafka failure, for both producers: record-level refusals park one row
 * (UnpublishableError); fencing is a FencedError; rejected credentials, an untrusted certificate
 * or a missing SASL mechanism are a ConnectionSecurityError (fatal at start-up); everything else (authorization, policy,
 * sequence errors, lost connections, unknown errors) is UnavailableError, so the relay backs off
 * and says why instead of parking rows that did nothing wrong.
 */
export function classifyKafkaError(error: unknown, doing: string): PostboxError {
  const refused = kafkaSecurityFailure(error)
  if (refused !== null) return refused
  const failure = protocolFailure(error)
  if (failure !== null) {
    if (RECORD_REFUSALS.has(failure.type)) {
      return new UnpublishableError(`Kafka refused the record (${failure.type}) while ${doing}`, {
        cause: error,
      })
    }
    if (FENCING.has(failure.type) || (failure.code !== undefined && FENCING_CODES.has(failure.code))) {
      return new FencedError(`a newer producer took over while ${doing} (${failure.type})`, { cause: error })
    }
    return new UnavailableError('kafka', `${doing} failed (${failure.type})`, { cause: error })
  }
  return new UnavailableError('kafka', `${doing} failed (${kafkaFailureName(error)})`, { cause: error })
}
