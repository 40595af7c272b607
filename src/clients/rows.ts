import { ConfigError } from '../errors.js'

/** A query result as the clients return it: the rows, or an object holding them in `rows`. */
export type QueryResultRows = readonly object[] | { readonly rows: readonly object[] }

/** The rows of a result, whichever of the two shapes the client returned. */
export function rowsOf<Row>(result: unknown, client: string): Row[] {
  if (Array.isArray(result)) return result as Row[]
  const rows = (result as { rows?: unknown } | null | undefined)?.rows
  if (Array.isArray(rows)) return rows as Row[]
  throw new ConfigError(
    `${client}: query() must resolve to the result rows or to { rows }, got ${typeof result}`,
  )
}

/** Whether `value` is a non-null object or function whose property `name` is a function. */
export function hasMethod(value: unknown, name: string): boolean {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false
  return typeof (value as Record<string, unknown>)[name] === 'function'
}
