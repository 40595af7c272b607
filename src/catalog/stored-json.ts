// The stored snapshot is JSON (jsonb), which has no Date and no bigint. Enqueue writes them as
// one-key tagged objects and the mapping side restores them, so that `key()` and `toExternal`
// receive a Date as a Date and a bigint as a bigint, at enqueue and in the relay alike.

const TAG_PREFIX = '"$postbox:'
const DATE_TAG = '$postbox:date'
const BIGINT_TAG = '$postbox:bigint'

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function tagOf(value: Record<string, unknown>): string | undefined {
  const tag = Object.hasOwn(value, DATE_TAG)
    ? DATE_TAG
    : Object.hasOwn(value, BIGINT_TAG)
      ? BIGINT_TAG
      : undefined
  return tag !== undefined && Object.keys(value).length === 1 ? tag : undefined
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

/**
 * A stored snapshot's JSON text parsed, its tagged Dates and bigints restored. Text without the
 * tags' common prefix holds none (Postgres never escapes `$` or letters in jsonb's text), so its
 * parsed value is not walked.
 */
export function parseStoredJson(json: string): unknown {
  const value: unknown = JSON.parse(json)
  return json.includes(TAG_PREFIX) ? restoreTypes(value) : value
}

/** The snapshot with its tagged Dates and bigints restored; the same object when it holds none. */
export function restoreTypes(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value
  // Copied only on the way back up from a restored value: a snapshot without tags is not copied.
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined
    for (let i = 0; i < value.length; i++) {
      const restored = restoreTypes(value[i])
      if (restored !== value[i]) {
        copy ??= [...value]
        copy[i] = restored
      }
    }
    return copy ?? value
  }
  if (!isPlainObject(value)) return value
  const tag = tagOf(value)
  const text = tag === undefined ? undefined : value[tag]
  if (typeof text === 'string') {
    if (tag === DATE_TAG) return new Date(text)
    if (/^-?\d+$/.test(text)) return BigInt(text)
  }
  let copy: Record<string, unknown> | undefined
  for (const key in value) {
    const item = value[key]
    const restored = restoreTypes(item)
    if (restored !== item) {
      copy ??= { ...value }
      copy[key] = restored
    }
  }
  return copy ?? value
}
