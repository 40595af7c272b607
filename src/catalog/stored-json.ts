// The stored snapshot is JSON (jsonb), which has no Date and no bigint. Enqueue writes them as
// one-key tagged objects and the mapping side restores them, so that `key()` and `toExternal`
// receive a Date as a Date and a bigint as a bigint, at enqueue and in the relay alike.

const DATE_TAG = '$postbox:date'
const BIGINT_TAG = '$postbox:bigint'

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function tagOf(value: Record<string, unknown>): string | undefined {
  const keys = Object.keys(value)
  const [only] = keys
  return keys.length === 1 && (only === DATE_TAG || only === BIGINT_TAG) ? only : undefined
}

/**
 * A JSON.stringify replacer: a Date becomes {"$postbox:date": ISO string}, a bigint
 * {"$postbox:bigint": decimal string}. An object of the application's that looks like a tag is refused.
 */
export function tagTypes(this: unknown, key: string, value: unknown): unknown {
  const original = (this as Record<string, unknown>)[key]
  if (original instanceof Date) {
    if (Number.isNaN(original.getTime())) throw new Error(`the Date at "${key}" is invalid`)
    return { [DATE_TAG]: original.toISOString() }
  }
  if (typeof value === 'bigint') return { [BIGINT_TAG]: value.toString() }
  if (isPlainObject(value) && tagOf(value) !== undefined) {
    throw new Error(`an object with the single property "${tagOf(value)}" is reserved for stored types`)
  }
  return value
}

/** The snapshot with its tagged Dates and bigints restored; the same object when it holds none. */
export function restoreTypes(value: unknown): unknown {
  if (Array.isArray(value)) {
    let changed = false
    const items = value.map((item) => {
      const restored = restoreTypes(item)
      if (restored !== item) changed = true
      return restored
    })
    return changed ? items : value
  }
  if (!isPlainObject(value)) return value
  const tag = tagOf(value)
  const text = tag === undefined ? undefined : value[tag]
  if (typeof text === 'string') {
    if (tag === DATE_TAG) return new Date(text)
    if (/^-?\d+$/.test(text)) return BigInt(text)
  }
  let changed = false
  const entries = Object.entries(value).map(([k, v]) => {
    const restored = restoreTypes(v)
    if (restored !== v) changed = true
    return [k, restored] as const
  })
  return changed ? Object.fromEntries(entries) : value
}
