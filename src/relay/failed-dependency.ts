import {
  ConnectionSecurityError,
  DatabaseError,
  FencedError,
  LeaseLostError,
  SchemaError,
  UnavailableError,
} from '../errors.js'

/** Which dependency a relay failure came from; `other` is a failure none of them explains (a bug: see the log). */
export type FailedDependency = 'postgres' | 'kafka' | 'registry' | 'other'

/** A Postgres server error carries a five-character SQLSTATE. */
const SQLSTATE = /^[0-9A-Z]{5}$/

export function failedDependency(error: unknown): FailedDependency {
  if (error instanceof UnavailableError || error instanceof ConnectionSecurityError) return error.dependency
  if (error instanceof SchemaError) return 'registry'
  // Thrown when a newer transactional producer fenced ours.
  if (error instanceof LeaseLostError || error instanceof FencedError) return 'kafka'
  if (error instanceof DatabaseError) return 'postgres'
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined
  return typeof code === 'string' && SQLSTATE.test(code) ? 'postgres' : 'other'
}
