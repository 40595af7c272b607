import { ConfigError } from '../errors.js'

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/

/** Validates a configured SQL identifier (schema name) and returns it quoted; input never reaches SQL otherwise. */
export function quoteIdentifier(name: string, what = 'schema'): string {
  if (!IDENTIFIER.test(name)) {
    throw new ConfigError(
      `${what} name "${name}" is not allowed: use lower-case letters, digits and _ (at most 63, not starting with a digit)`,
    )
  }
  return `"${name}"`
}
