import type { ResolvedConfig } from '../config.js'
import { ConfigError, DatabaseError } from '../errors.js'
import type { RelayQueries } from './ports.js'

/** Kafka topic names allow these; the prefix also names the progress topic. */
const PREFIX = /^[a-zA-Z0-9._-]{1,200}$/

/**
 * The prefix of the exactly-once transactional ids (`<prefix>.<shard>`) and of the progress topic
 * and group (`<prefix>.progress`). Two deployments sharing a Kafka cluster must never share it: a
 * producer started with another's transactional id fences that one, back and forth, for ever. An
 * explicit `relay.transactionalIdPrefix` wins; the default names the Postgres cluster by its system
 * identifier, then the database and the outbox schema: `postbox.<system id>.<database>.<schema>`.
 */
export async function resolveTransactionalIdPrefix(
  config: ResolvedConfig,
  db: Parameters<RelayQueries['clusterIdentity']>[0],
  queries: Pick<RelayQueries, 'clusterIdentity'>,
): Promise<string> {
  const explicit = config.relay.transactionalIdPrefix
  if (explicit !== null) return explicit
  let identity: Awaited<ReturnType<RelayQueries['clusterIdentity']>>
  try {
    identity = await queries.clusterIdentity(db)
  } catch (error) {
    // Unavailable (retriable) errors pass: start-up backs off and asks again.
    if (!(error instanceof DatabaseError)) throw error
    throw unidentified(`pg_control_system() failed with SQLSTATE ${error.sqlstate ?? 'unknown'}`, error)
  }
  if (identity === null) throw unidentified('pg_control_system() returned no row')
  const prefix = `postbox.${identity.systemIdentifier}.${identity.database}.${config.schema}`
  if (!PREFIX.test(prefix)) {
    throw new ConfigError(
      `the default transactional id prefix "${prefix}" is not a valid Kafka topic name: set relay.transactionalIdPrefix (1 to 200 letters, digits, . _ -)`,
    )
  }
  return prefix
}

function unidentified(why: string, cause?: unknown): ConfigError {
  return new ConfigError(
    `exactly-once needs a transactional id prefix no other deployment on the Kafka cluster uses; the default includes this Postgres cluster's system identifier, which the relay's role cannot read (${why}): set relay.transactionalIdPrefix, or grant EXECUTE on pg_control_system()`,
    { cause },
  )
}
