import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { withAdvisoryLock } from '../../src/db/advisory-lock.js'
import type { SqlExecutor } from '../../src/db/executor.js'

/** One connection's view of advisory locks: which keys it holds, and whether another session holds the key. */
function fakeConnection(options: { heldElsewhere?: boolean } = {}) {
  const held = new Set<string>()
  const log: string[] = []
  const db: SqlExecutor = {
    async query<Row>(text: string, values: readonly unknown[]) {
      const key = String(values[0])
      if (text.includes('pg_try_advisory_lock')) {
        const locked = options.heldElsewhere !== true
        if (locked) held.add(key)
        log.push(`try ${key}: ${locked}`)
        return [{ locked }] as Row[]
      }
      if (text.includes('pg_advisory_lock')) {
        held.add(key)
        log.push(`lock ${key}`)
      } else if (text.includes('pg_advisory_unlock')) {
        held.delete(key)
        log.push(`unlock ${key}`)
      }
      return [] as Row[]
    },
  }
  return { db, held, log }
}

describe('withAdvisoryLock', () => {
  test('runs the work while holding the lock, then releases it and returns the result', async () => {
    const { db, held, log } = fakeConnection()
    const result = await withAdvisoryLock(db, 'postbox.migrate.x', async () => {
      log.push(`work (holding: ${[...held].join(',')})`)
      return 7
    })
    assert.equal(result, 7)
    assert.deepEqual(log, [
      'lock postbox.migrate.x',
      'work (holding: postbox.migrate.x)',
      'unlock postbox.migrate.x',
    ])
    assert.equal(held.size, 0)
  })

  test('releases the lock when the work throws, and the caller sees the work’s error', async () => {
    const { db, held } = fakeConnection()
    await assert.rejects(
      withAdvisoryLock(db, 'k', async () => {
        throw new Error('migration failed')
      }),
      /migration failed/,
    )
    assert.equal(held.size, 0)
  })

  test('without waiting, the work is skipped when another session holds the lock', async () => {
    const { db, log } = fakeConnection({ heldElsewhere: true })
    let ran = false
    const result = await withAdvisoryLock(
      db,
      'postbox.retention.x',
      async () => {
        ran = true
        return 'done'
      },
      { wait: false },
    )
    assert.equal(result, undefined)
    assert.equal(ran, false)
    assert.deepEqual(log, ['try postbox.retention.x: false'])
  })

  test('without waiting, a free lock is taken, the work runs and the lock is released', async () => {
    const { db, held, log } = fakeConnection()
    const result = await withAdvisoryLock(db, 'k', async () => 'done', { wait: false })
    assert.equal(result, 'done')
    assert.deepEqual(log, ['try k: true', 'unlock k'])
    assert.equal(held.size, 0)
  })
})
