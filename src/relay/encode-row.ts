import type { Catalog } from '../catalog/catalog.js'
import type { AnyEventDefinition } from '../catalog/define-event.js'
import { checkMessageBytes, headerBytes } from '../catalog/limits.js'
import { checkKey, mapStoredRow } from '../catalog/map-event.js'
import type { ClaimedRow } from '../db/outbox-queries.js'
import { UnpublishableError, ValidationError } from '../errors.js'
import type { OutgoingMessage } from '../kafka/ports.js'

export interface SchemaIds {
  value: number
  key: number | undefined
}

export const CONTENT_TYPE = 'application/vnd.apache.avro+binary'

/** Maps a stored row with the current code and encodes it in the Confluent wire format. */
export function encodeRow(
  row: ClaimedRow,
  catalog: Catalog,
  schemaIds: ReadonlyMap<string, SchemaIds>,
  maxMessageBytes: number,
): OutgoingMessage {
  if (!catalog.has(row.event_type)) {
    throw new UnpublishableError(`event type "${row.event_type}" is not in the relay's catalog`)
  }
  const event = catalog.get(row.event_type)
  const ids = schemaIds.get(event.type)
  if (ids === undefined) throw new UnpublishableError(`no schema id resolved for ${event.type}`)

  let key: Buffer
  if (event.keyCodec === undefined || ids.key === undefined) {
    key = Buffer.from(row.key, 'utf8')
  } else {
    try {
      key = event.keyCodec.encodeFramed(ids.key, checkKey(event, row.key))
    } catch (cause) {
      throw new UnpublishableError(`key of ${event.type} cannot be encoded`, { cause })
    }
  }

  let value: Buffer | null = null
  if (row.payload !== null) {
    const external = mapStoredRow(event, row.payload)
    value = event.valueCodec.encodeFramed(ids.value, external)
  }
  checkRecordBytes(event, key, value, row.headers, maxMessageBytes)

  const headers: Record<string, string> = {
    ...row.headers,
    'event-id': row.event_id,
    'event-type': row.event_type,
    'outbox-id': row.id,
    'created-at': row.created_at.toISOString(),
  }
  if (value !== null) headers['content-type'] = CONTENT_TYPE
  return { topic: event.topic, key, value, headers }
}

/**
 * The record counted as enqueue counts it (src/catalog/limits.ts): encoded value, encoded key and
 * the event's own headers together. The headers the relay adds are not counted: they are small
 * and bounded, and enqueue cannot know them.
 */
function checkRecordBytes(
  event: AnyEventDefinition,
  key: Buffer,
  value: Buffer | null,
  headers: Readonly<Record<string, string>>,
  maxMessageBytes: number,
): void {
  try {
    checkMessageBytes(
      event,
      { value: value?.length ?? 0, key: key.length, headers: headerBytes(headers) },
      maxMessageBytes,
    )
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error
    throw new UnpublishableError(error.message, { cause: error })
  }
}
