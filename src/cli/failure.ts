import { InvalidSettingsError } from '../config-schema.js'
import { DatabaseError, describeError, PostboxError, UnavailableError } from '../errors.js'
import { UsageError } from './usage-error.js'

/** What the CLI prints for an error that ends a command, and the exit code. */
export interface Failure {
  /** One line: what is wrong and what to check. */
  readonly message: string
  readonly exitCode: number
}

const EXIT_FAILURE = 1
const EXIT_USAGE = 2

type Dependency = 'postgres' | 'kafka' | 'registry'

const DEPENDENCY_NAME: Record<Dependency, string> = {
  postgres: 'PostgreSQL',
  kafka: 'Kafka',
  registry: 'the schema registry',
}

/** The settings that say where each dependency is, named the way an operator sets them. */
const SETTING: Record<Dependency, string> = {
  postgres: 'DATABASE_URL (or -d/--database-url, PGHOST/PGPORT/PGUSER/PGDATABASE, databaseUrl in the config)',
  kafka: 'KAFKA_BROKERS (or kafka.brokers in the config)',
  registry: 'SCHEMA_REGISTRY_URL (or registry.url in the config)',
}

/** Login and database SQLSTATEs: the server answered, but refused who or what was asked for. */
const LOGIN_SQLSTATES: ReadonlySet<string> = new Set(['28P01', '28000', '3D000'])

/** OpenSSL's certificate verdicts and Node's TLS errors. */
const TLS_CODE = /^(CERT_|ERR_TLS_|ERR_SSL_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED|SELF_SIGNED_CERT)/

/** Every error in `error`'s cause chain, outermost first (AggregateError members included). */
function chainOf(error: unknown): unknown[] {
  const chain: unknown[] = []
  const queue: unknown[] = [error]
  while (queue.length > 0) {
    const current = queue.shift()
    if (current === undefined || current === null || chain.includes(current)) continue
    chain.push(current)
    if (current instanceof AggregateError) queue.push(...current.errors)
    if (current instanceof Error) queue.push(current.cause)
  }
  return chain
}

function stringField(value: unknown, name: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const field = (value as Record<string, unknown>)[name]
  return typeof field === 'string' || typeof field === 'number' ? String(field) : undefined
}

function dependencyOf(chain: readonly unknown[]): Dependency | undefined {
  for (const error of chain) {
    if (error instanceof UnavailableError) return error.dependency
    if (error instanceof DatabaseError) return 'postgres'
    if (error instanceof Error && error.name.startsWith('KafkaJS')) return 'kafka'
  }
  return undefined
}

/** The host (and port) a socket error names, as " at host:port", or "" when it names none. */
function whereOf(chain: readonly unknown[]): string {
  for (const error of chain) {
    // kafkajs names the broker as "host:port".
    const broker = stringField(error, 'broker')
    if (broker !== undefined) return ` at ${broker}`
    const host = stringField(error, 'hostname') ?? stringField(error, 'address') ?? stringField(error, 'host')
    if (host !== undefined) {
      const port = stringField(error, 'port')
      return ` at ${host}${port === undefined ? '' : `:${port}`}`
    }
  }
  return ''
}

/** What went wrong on the network, by the codes Node, pg, undici and kafkajs attach. */
function networkProblem(chain: readonly unknown[]): { what: string; check: string } | undefined {
  for (const error of chain) {
    const code = stringField(error, 'code') ?? ''
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
      return { what: 'its host name does not resolve (DNS)', check: 'the host name in' }
    if (code === 'ECONNREFUSED')
      return { what: 'the connection was refused', check: 'that the server runs, and the host and port in' }
    if (
      code === 'ETIMEDOUT' ||
      code === 'UND_ERR_CONNECT_TIMEOUT' ||
      // pg's connectionTimeoutMillis (the pool's or the client's timer), without a code.
      (error instanceof Error &&
        (error.message === 'Connection terminated due to connection timeout' ||
          error.message === 'timeout expired'))
    )
      return {
        what: 'the connection timed out',
        check: 'the network path and firewall to the server, and the host and port in',
      }
    if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH')
      return { what: 'there is no route to its host', check: 'the network, and the host in' }
    if (TLS_CODE.test(code))
      return {
        what: `TLS failed (${code})`,
        check: 'the server certificate and the CA / sslmode settings of',
      }
    // pg says this without a code when sslmode asks for TLS and the server has it off.
    if (error instanceof Error && error.message === 'The server does not support SSL connections')
      return { what: 'the server does not accept TLS', check: 'sslmode (PGSSLMODE) in' }
  }
  return undefined
}

/** A connection failure in one line, or undefined when the error is not one. */
function connectionFailure(error: unknown): string | undefined {
  const chain = chainOf(error)
  const dependency = dependencyOf(chain)
  if (dependency === undefined) return undefined
  const name = DEPENDENCY_NAME[dependency]
  const sqlstate = chain.find((e): e is DatabaseError => e instanceof DatabaseError)?.sqlstate
  if (typeof sqlstate === 'string' && LOGIN_SQLSTATES.has(sqlstate)) {
    // The server's own words name the role or database ('role "x" does not exist').
    const said = chain.at(-1) instanceof Error ? (chain.at(-1) as Error).message : sqlstate
    return `${name} refused the connection: ${said}; check the user, password and database in ${SETTING[dependency]}`
  }
  const problem = networkProblem(chain)
  if (problem === undefined) return undefined
  return `cannot reach ${name}${whereOf(chain)}: ${problem.what}; check ${problem.check} ${SETTING[dependency]}`
}

/**
 * The CLI's error-printing edge: turns whatever ended a command into one line and an exit code.
 * Connection failures say what is wrong and which setting to check; other errors keep their
 * own message and causes.
 */
export function explainFailure(error: unknown): Failure {
  if (error instanceof UsageError) return { message: error.message, exitCode: EXIT_USAGE }
  // A malformed setting: nothing ran, like a usage error.
  if (error instanceof InvalidSettingsError)
    return { message: `${error.message} [${error.code}]`, exitCode: EXIT_USAGE }
  const code = error instanceof PostboxError ? ` [${error.code}]` : ''
  return { message: `${connectionFailure(error) ?? describeError(error)}${code}`, exitCode: EXIT_FAILURE }
}
