import { describeError, UnpublishableError, ValidationError } from '../errors.js'
import type { AnyEventDefinition } from './define-event.js'
import { parseStoredJson, restoreTypes, tagTypes } from './stored-json.js'
import type { EventKey } from './types.js'

// These errors reach the application's own code, which may print only `message`: it states what
// the application's function threw, and `cause` keeps that error's stack (describeError prints it once).

/** Stored form of a key: strings as they are, Avro key records as JSON. */
export function storedKey(key: EventKey): string {
  return typeof key === 'string' ? key : JSON.stringify(key)
}

/**
 * The snapshot as the database will hold it (jsonb, Dates and bigints tagged), so enqueue
 * validates what the relay will map.
 */
export function toStoredSnapshot(event: AnyEventDefinition, internal: unknown): unknown {
  return toStoredJson(event, internal).snapshot
}

/** The stored snapshot and the size of its JSON text in UTF-8 bytes. */
export function toStoredJson(
  event: AnyEventDefinition,
  internal: unknown,
): { snapshot: unknown; bytes: number } {
  try {
    const text = JSON.stringify(internal, storable)
    if (text === undefined) throw new Error('the value is not JSON-serialisable')
    return { snapshot: JSON.parse(text), bytes: Buffer.byteLength(text, 'utf8') }
  } catch (cause) {
    throw new ValidationError(
      event.type,
      '(root)',
      `the payload cannot be stored as JSON: ${describeError(cause)}`,
      {
        cause,
      },
    )
  }
}

/** Postgres text and jsonb cannot hold NUL characters or unpaired UTF-16 surrogates. */
function storable(this: unknown, key: string, value: unknown): unknown {
  if (!isStorableText(key)) throw new Error(`property name ${JSON.stringify(key)} cannot be stored`)
  if (typeof value === 'string' && !isStorableText(value)) {
    throw new Error(`the string at "${key}" contains a NUL character or an unpaired surrogate`)
  }
  return tagTypes.call(this, key, value)
}

const UNSTORABLE = /\0|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

export function isStorableText(text: string): boolean {
  return !UNSTORABLE.test(text)
}

/** Runs the event's mapping on the stored snapshot (types restored) and checks the result against its Avro schema. */
export function mapToExternal(event: AnyEventDefinition, snapshot: unknown): unknown {
  return mapRestored(event, restoreTypes(snapshot))
}

/** mapToExternal on a snapshot whose Dates and bigints are already restored. */
function mapRestored(event: AnyEventDefinition, snapshot: unknown): unknown {
  let external: unknown
  try {
    external = event.toExternal(snapshot)
  } catch (cause) {
    throw new ValidationError(event.type, '(mapping)', `toExternal threw: ${describeError(cause)}`, { cause })
  }
  const fields = event.valueCodec.invalidFields(external)
  const [first] = fields
  if (first !== undefined) {
    const expected = first.expected === undefined ? '' : `; ${first.path} must be ${first.expected}`
    throw new ValidationError(
      event.type,
      first.path,
      `the mapped record does not match schema ${event.subject} at ${fields.map((f) => f.path).join(', ')}${expected}`,
    )
  }
  return external
}

/** Computes and checks the key of a snapshot. */
export function keyOf(event: AnyEventDefinition, snapshot: unknown): EventKey {
  let key: EventKey
  try {
    key = event.key(restoreTypes(snapshot))
  } catch (cause) {
    throw new ValidationError(event.type, '(key)', `key() threw: ${describeError(cause)}`, { cause })
  }
  return checkKey(event, key)
}

export function checkKey(event: AnyEventDefinition, key: unknown): EventKey {
  if (event.keyCodec === undefined) {
    if (typeof key !== 'string' || key.length === 0) {
      throw new ValidationError(
        event.type,
        '(key)',
        `the key must be a non-empty string, got ${describe(key)}`,
      )
    }
    if (!isStorableText(key)) {
      throw new ValidationError(
        event.type,
        '(key)',
        'the key contains a NUL character or an unpaired surrogate',
      )
    }
    return key
  }
  const value = typeof key === 'string' ? parseJsonKey(event, key) : key
  const paths = event.keyCodec.invalidPaths(value)
  if (paths.length > 0) {
    throw new ValidationError(
      event.type,
      `(key).${paths[0]}`,
      `the key does not match the key schema at ${paths.join(', ')}`,
    )
  }
  return value as EventKey
}

function parseJsonKey(event: AnyEventDefinition, key: string): unknown {
  try {
    return JSON.parse(key)
  } catch (cause) {
    throw new ValidationError(
      event.type,
      '(key)',
      'a string key for an Avro key schema must be its JSON form',
      { cause },
    )
  }
}

/**
 * Relay side: maps a stored snapshot given as its JSON text. Mapping failures of stored rows are
 * unpublishable, not validation errors of a caller.
 */
export function mapStoredRow(event: AnyEventDefinition, json: string): unknown {
  try {
    return mapRestored(event, parseStoredJson(json))
  } catch (cause) {
    // The same verdict re-typed for the relay: the message stays, and its cause (what toExternal threw) goes along.
    if (cause instanceof ValidationError) throw new UnpublishableError(cause.message, { cause: cause.cause })
    throw new UnpublishableError(`${event.type}: the stored row cannot be mapped`, { cause })
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'string') return 'an empty string'
  return typeof value
}
