import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { silentLogger } from '../../src/observe/logger.js'
import { ShardLeases } from '../../src/relay/leases.js'
import { FakeDatabase, LeaseTable } from './relay-fakes.js'

const TTL = 10_000

function relay(table: LeaseTable, id: string): ShardLeases {
  return new ShardLeases(new FakeDatabase(), table.queries(), id, TTL, TTL / 4, silentLogger, {
    host: 'h',
    pid: 1,
  })
}

describe('shard leases', () => {
  test('a lone relay takes every shard, each at a new epoch', async () => {
    const table = new LeaseTable(4)
    const a = relay(table, 'a')
    await a.maintain(true)
    assert.deepEqual(a.shards, [0, 1, 2, 3])
    assert.deepEqual(
      a.leases.map((l) => l.epoch),
      ['1', '1', '1', '1'],
    )
  })

  test('a second relay gets half the shards once the first rebalances', async () => {
    const table = new LeaseTable(4)
    const a = relay(table, 'a')
    const b = relay(table, 'b')
    await a.maintain(true)
    await b.maintain(true)
    assert.deepEqual(b.shards, [], 'held shards are not taken while their lease is live')
    await a.maintain(true)
    assert.deepEqual(a.shards, [0, 1])
    await b.maintain(true)
    assert.deepEqual(b.shards, [2, 3])
    assert.deepEqual(
      b.leases.map((l) => l.epoch),
      ['2', '2'],
    )
  })

  test("a dead relay's shards move after the TTL, and it loses them at its next renewal", async () => {
    let now = 0
    const table = new LeaseTable(2, () => now)
    const a = relay(table, 'a')
    const b = relay(table, 'b')
    await a.maintain(true)
    now += TTL + 1
    await b.maintain(true)
    assert.deepEqual(b.shards, [0, 1])
    await a.maintain(true)
    assert.deepEqual(a.shards, [], 'renewal at the old epoch fails, so the shards are dropped')
  })

  test('publishing is safe only while the last renewal is well within the TTL', async () => {
    const a = relay(new LeaseTable(1), 'a')
    await a.maintain(true)
    const renewed = performance.now()
    assert.equal(a.safeToPublish(renewed + 1000), true)
    assert.equal(a.safeToPublish(renewed + TTL - 1000), false)
  })

  test('stopping releases every shard for the others at once', async () => {
    const table = new LeaseTable(2)
    const a = relay(table, 'a')
    const b = relay(table, 'b')
    await a.maintain(true)
    await a.releaseAll()
    await b.maintain(true)
    assert.deepEqual(b.shards, [0, 1])
  })
})
