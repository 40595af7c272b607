import { randomUUID } from 'node:crypto'

/**
 * A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, the version, then 74 random bits, so ids sort
 * by creation time. The random bits are a v4 UUID's (Node draws those from a pooled entropy
 * buffer: ~20× cheaper than a randomBytes call per id); its variant bits are already v7's.
 */
export function newEventId(now = Date.now()): string {
  const time = now.toString(16).padStart(12, '0')
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${randomUUID().slice(15)}`
}
