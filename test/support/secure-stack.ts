import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'

/**
 * The stack's SASL_SSL listener and private PostgreSQL cluster, where scripts/stack puts them
 * (scripts/with-stack exports STACK_*; the defaults are the files `scripts/stack up` writes).
 */
const tlsDir = resolve(process.env.STACK_DIR ?? '.stack', 'tls')

export const secureStack = {
  saslBrokers: (process.env.STACK_SASL_BROKERS ?? '127.0.0.1:9094').split(','),
  saslUsername: process.env.STACK_SASL_USERNAME ?? 'postbox',
  saslPasswordFile: process.env.STACK_SASL_PASSWORD_FILE ?? resolve(tlsDir, 'postbox.password'),
  caFile: process.env.STACK_TLS_CA ?? resolve(tlsDir, 'ca.pem'),
  pgPrivateUrl: process.env.STACK_PG_PRIVATE_URL ?? 'postgres://postgres@127.0.0.1:5433/postgres',
}

/** A file the stack writes; a clear failure (not a skip) when the stack has not made it. */
export function stackFile(path: string): string {
  if (!existsSync(path)) {
    throw new Error(
      `${path} does not exist: start the stack with scripts/stack up (or run under scripts/with-stack)`,
    )
  }
  return path
}

export function saslPassword(): string {
  return readFileSync(stackFile(secureStack.saslPasswordFile), 'utf8').trim()
}
