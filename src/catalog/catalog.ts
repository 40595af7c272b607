import { ConfigError, UnknownEventError } from '../errors.js'
import type { AnyEventDefinition } from './define-event.js'

/** The events an application publishes, looked up by their stored type name. */
export interface Catalog {
  readonly events: readonly AnyEventDefinition[]
  get(eventType: string): AnyEventDefinition
  has(eventType: string): boolean
  readonly topics: readonly string[]
}

export function createCatalog(events: readonly AnyEventDefinition[]): Catalog {
  const byType = new Map<string, AnyEventDefinition>()
  for (const event of events) {
    if (byType.has(event.type)) {
      throw new ConfigError(`event type "${event.type}" is defined twice in the catalog`)
    }
    byType.set(event.type, event)
  }
  return Object.freeze({
    events: Object.freeze([...events]),
    topics: Object.freeze([...new Set(events.map((e) => e.topic))]),
    has: (eventType: string) => byType.has(eventType),
    get(eventType: string) {
      const event = byType.get(eventType)
      if (event === undefined) throw new UnknownEventError(eventType)
      return event
    },
  })
}
