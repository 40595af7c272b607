import { createOutbox } from '../../src/index.js'
import { silentLogger } from '../../src/observe/logger.js'
import { type PostboxSettings, Relay, type RelaySettings, resolveConfig } from '../../src/relay-api.js'
import { readPublished } from '../../src/testing.js'
import { stack } from './stack.js'

type Events = PostboxSettings['events']

export function relaySettings(
  databaseUrl: string,
  events: Events,
  relay: RelaySettings = {},
): PostboxSettings {
  return {
    events,
    databaseUrl,
    kafka: { brokers: stack.brokers },
    registry: { url: stack.registryUrl },
    relay: { topicPartitions: 3, pollIntervalMs: 200, ...relay },
  }
}

export async function startRelay(
  databaseUrl: string,
  events: Events,
  relay: RelaySettings = {},
): Promise<Relay> {
  const r = new Relay(resolveConfig(relaySettings(databaseUrl, events, relay)), { logger: silentLogger })
  await r.start()
  return r
}

export function outboxFor(events: Events, options: { notify?: boolean } = {}) {
  return createOutbox({ events, ...options })
}

export function readTopic(topic: string, options: { avroKey?: boolean } = {}) {
  return readPublished({ brokers: stack.brokers, registryUrl: stack.registryUrl }, topic, options)
}

/**
 * The `version` of each order event published to `topic`, per key in the order read (null for a
 * tombstone): what a consumer sees of per-key order.
 */
export async function versionsByKey(topic: string): Promise<Record<string, (number | null)[]>> {
  const byKey: Record<string, (number | null)[]> = {}
  for (const record of await readTopic(topic)) {
    const value = record.value as { version: number } | null
    const key = String(record.key)
    byKey[key] = [...(byKey[key] ?? []), value === null ? null : value.version]
  }
  return byKey
}

/** What a relay's start-up threw for `config` (null when it started); the relay is stopped either way. */
export async function startFailure(config: PostboxSettings): Promise<unknown> {
  const relay = new Relay(resolveConfig(config), { logger: silentLogger })
  try {
    await relay.start()
  } catch (error) {
    return error
  } finally {
    await relay.stop()
  }
  return null
}
