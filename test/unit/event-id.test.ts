import assert from 'node:assert/strict'
import { test } from 'node:test'
import { newEventId } from '../../src/event-id.js'

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

test('event ids are UUIDv7: the creation millisecond first, the version and variant bits set, the rest random', () => {
  const now = Date.UTC(2026, 10, 26, 12, 0, 0, 123)
  const ids = Array.from({ length: 10_000 }, () => newEventId(now))
  for (const id of ids) {
    assert.match(id, UUID_V7)
    assert.equal(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16), now)
  }
  assert.equal(new Set(ids).size, ids.length, 'no two alike')
  assert.equal(new Set(ids.map((id) => id.slice(15, 16))).size, 16, 'the random bits after the version vary')
})

test('ids of later milliseconds sort after earlier ones', () => {
  const times = [1, 2, 255, 256, 4096, Date.now(), 2 ** 48 - 1]
  const ids = times.map((t) => newEventId(t))
  assert.deepEqual([...ids].sort(), ids)
})
