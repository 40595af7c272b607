/**
 * Every error Postbox throws is a PostboxError with a stable `code`, a `retriable`
 * flag the relay's retrier honours, and the underlying `cause` when there is one.
 */
export class PostboxError extends Error {
  readonly code: string
  readonly retriable: boolean

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.retriable = options.retriable ?? false
  }
}

/** Settings are missing or malformed. */
export class ConfigError extends PostboxError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('POSTBOX_CONFIG', message, options)
  }
}

/** enqueue() was given something its event cannot publish; the caller's transaction should roll back. */
export class ValidationError extends PostboxError {
  readonly eventType: string
  readonly path: string

  constructor(eventType: string, path: string, message: string, options: { cause?: unknown } = {}) {
    super('POSTBOX_VALIDATION', `${eventType}: ${message}`, options)
    this.eventType = eventType
    this.path = path
  }
}

/** An event type that is not in the catalog. */
export class UnknownEventError extends PostboxError {
  constructor(eventType: string) {
    super(
      'POSTBOX_UNKNOWN_EVENT',
      `event type "${eventType}" is not in the catalog: add it to createOutbox({ events })`,
    )
  }
}

/** A row the relay can never publish with the current code and schema (it gets parked). */
export class UnpublishableError extends PostboxError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('POSTBOX_UNPUBLISHABLE', message, options)
  }
}

/** The schema registry refused a schema, or a schema is missing with auto-register off. */
export class SchemaError extends PostboxError {
  constructor(message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super('POSTBOX_SCHEMA', message, options)
  }
}

/** The database holds migrations this version of Postbox does not know. */
export class MigrationError extends PostboxError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('POSTBOX_MIGRATION', message, options)
  }
}

/** This relay no longer holds the lease of a shard; its work on that shard must stop. */
export class LeaseLostError extends PostboxError {
  constructor(shards: readonly number[]) {
    super('POSTBOX_LEASE_LOST', `lease lost on shard(s) ${shards.join(', ')}`, { retriable: true })
  }
}

/** A dependency (Postgres, Kafka, the registry) is unreachable or failing for now. */
export class UnavailableError extends PostboxError {
  readonly dependency: 'postgres' | 'kafka' | 'registry'

  constructor(
    dependency: 'postgres' | 'kafka' | 'registry',
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super('POSTBOX_UNAVAILABLE', `${dependency}: ${message}`, { ...options, retriable: true })
    this.dependency = dependency
  }
}

/**
 * Postgres refused a statement for a reason retrying will not fix (a missing table, a constraint,
 * a permission). `sqlstate` is Postgres's error code, null when the error carried none.
 */
export class DatabaseError extends PostboxError {
  readonly sqlstate: string | null

  constructor(sqlstate: string | null, options: { cause?: unknown } = {}) {
    super(
      'POSTBOX_DATABASE',
      sqlstate === null
        ? 'postgres: the database call failed'
        : `postgres: the statement failed with SQLSTATE ${sqlstate}`,
      options,
    )
    this.sqlstate = sqlstate
  }
}

export function isRetriable(error: unknown): boolean {
  return error instanceof PostboxError && error.retriable
}

/**
 * One line for logs and the CLI: the error's message, then its causes, each once:
 * `message (cause: cause: cause of cause)`. A cause whose text the line already holds is not repeated.
 */
export function describeError(error: unknown): string {
  const parts: string[] = []
  const seen = new Set<unknown>()
  let current: unknown = error
  while (current !== undefined && current !== null && !seen.has(current)) {
    seen.add(current)
    const text = messageOf(current)
    if (text !== '' && !parts.some((part) => part.includes(text))) parts.push(text)
    current = current instanceof Error ? current.cause : undefined
  }
  const [message, ...causes] = parts
  if (message === undefined) return String(error)
  return causes.length === 0 ? message : `${message} (cause: ${causes.join(': ')})`
}

function messageOf(value: unknown): string {
  // Node reports a refused connection to a host with several addresses as an AggregateError without a message.
  if (value instanceof AggregateError && value.message === '') {
    return value.errors
      .map(messageOf)
      .filter((text) => text !== '')
      .join('; ')
  }
  if (value instanceof Error) return value.message === '' ? value.name : value.message
  return String(value)
}

/** A newer producer took over this producer's transactional id; its shard must be taken over afresh. */
export class FencedError extends PostboxError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('POSTBOX_FENCED', message, { ...options, retriable: true })
  }
}

/**
 * A dependency refused the connection for a reason retrying cannot fix: wrong credentials, an
 * untrusted certificate, a SASL mechanism the broker does not offer. Fatal at start-up; the
 * message names the cause and the setting to change.
 */
export class ConnectionSecurityError extends PostboxError {
  readonly dependency: 'postgres' | 'kafka' | 'registry'

  constructor(
    dependency: 'postgres' | 'kafka' | 'registry',
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super('POSTBOX_CONNECTION_SECURITY', `${dependency}: ${message}`, options)
    this.dependency = dependency
  }
}
