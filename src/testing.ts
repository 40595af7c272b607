import { kafkaClient } from './kafka/client.js'
import { readTopic } from './kafka/topic-reader.js'
import { silentLogger } from './observe/logger.js'
import { unframe } from './schema/codec.js'
import { createRegistryClient } from './schema/registry.js'

export interface PublishedEvent {
  partition: number
  offset: string
  /** The key as a string (Avro keys decoded through the registry). */
  key: string | unknown
  /** The decoded external record, or null for a tombstone. */
  value: unknown
  /** Schema id carried in the value's wire-format frame. */
  schemaId: number | null
  headers: Record<string, string>
}

/**
 * Reads everything published to a topic so far and decodes it through the schema registry,
 * as an independent consumer would. Meant for an application's own tests.
 */
export async function readPublished(
  connection: { brokers: readonly string[]; registryUrl: string },
  topic: string,
  options: { timeoutMs?: number; avroKey?: boolean } = {},
): Promise<PublishedEvent[]> {
  const kafka = kafkaClient(connection.brokers, 'postbox-testing', silentLogger)
  const registry = createRegistryClient(connection.registryUrl)
  const records = await readTopic(kafka, topic, { timeoutMs: options.timeoutMs })
  const out: PublishedEvent[] = []
  for (const r of records) {
    const key =
      r.key === null ? null : options.avroKey === true ? await registry.decode(r.key) : r.key.toString('utf8')
    out.push({
      partition: r.partition,
      offset: r.offset,
      key,
      value: r.value === null ? null : await registry.decode(r.value),
      schemaId: r.value === null ? null : unframe(r.value).schemaId,
      headers: r.headers,
    })
  }
  return out
}
