// The kafkajs replacements (src/kafka/kafkajs-tuning.ts) must write exactly the bytes, and group
// exactly the messages, that kafkajs's own code does; the partitioner must pick kafkajs's partition.
import '../../src/kafka/client.js'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { describe, test } from 'node:test'
import {
  groupMessagesPerPartition,
  type KafkajsEncoder,
  kafkajsTuning,
  recordEncoder,
  type StockKafkajs,
  stockKafkajs,
} from '../../src/kafka/kafkajs-tuning.js'
import { murmur2, partitionForKey } from '../../src/kafka/murmur2.js'

const require = createRequire(import.meta.url)

/** A small deterministic generator (mulberry32), so a failure can be reproduced. */
function random(seed: number) {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function stock(): StockKafkajs {
  const found = stockKafkajs()
  assert.ok(found, 'kafkajs was tuned')
  return found
}

/** Runs `write` with kafkajs's own varint methods in place (as kafkajs ships them). */
function withStockVarInts<T>(write: () => T): T {
  const { Encoder, writeUVarInt, writeVarLong, sizeOfVarLong } = stock()
  const proto = Encoder.prototype
  const tuned = {
    writeUVarInt: proto.writeUVarInt,
    writeVarLong: proto.writeVarLong,
    sizeOfVarLong: Encoder.sizeOfVarLong,
  }
  proto.writeUVarInt = writeUVarInt
  proto.writeVarLong = writeVarLong
  Encoder.sizeOfVarLong = sizeOfVarLong
  try {
    return write()
  } finally {
    proto.writeUVarInt = tuned.writeUVarInt
    proto.writeVarLong = tuned.writeVarLong
    Encoder.sizeOfVarLong = tuned.sizeOfVarLong
  }
}

const bytes = (encoder: KafkajsEncoder) => Buffer.from(encoder.buffer).toString('hex')

const edgeInts = [0, 1, -1, 63, 64, -64, -65, 127, 128, 8191, 8192, 2 ** 20, -(2 ** 20), 2 ** 30, -(2 ** 30)]
const int32s = [...edgeInts, 2 ** 31 - 1, -(2 ** 31)]

describe('kafkajs tuning', () => {
  test('every replacement is in effect when Postbox loads kafkajs', () => {
    assert.equal(kafkajsTuning.version, '2.2.4')
    assert.deepEqual(kafkajsTuning.applied, [
      'encoder writes',
      'partition grouping',
      'record encoder',
      'record batch CRC-32C',
    ])
    assert.deepEqual(kafkajsTuning.skipped, [])
  })

  test('varints and varlongs are the bytes kafkajs writes, sizes as kafkajs counts them', () => {
    const { Encoder } = stock()
    const next = random(1)
    const values: unknown[] = [...int32s, 2 ** 31, -(2 ** 31) - 1, 2 ** 40, -(2 ** 45), '123']
    for (let i = 0; i < 2000; i++)
      values.push(Math.floor((next() - 0.5) * 2 ** (1 + Math.floor(next() * 33))))
    for (const value of values) {
      const tunedLong = bytes(new Encoder().writeVarLong(value))
      const stockLong = withStockVarInts(() => bytes(new Encoder().writeVarLong(value)))
      assert.equal(tunedLong, stockLong, `varlong ${value}`)
      const tunedSize = Encoder.sizeOfVarLong(value)
      assert.equal(
        tunedSize,
        withStockVarInts(() => Encoder.sizeOfVarLong(value)),
        `size of varlong ${value}`,
      )
      assert.equal(tunedSize, tunedLong.length / 2)
      if (typeof value === 'number' && (value | 0) === value) {
        const tunedInt = bytes(new Encoder().writeVarInt(value))
        assert.equal(
          tunedInt,
          withStockVarInts(() => bytes(new Encoder().writeVarInt(value))),
          `varint ${value}`,
        )
      }
    }
  })

  test('a record is the bytes kafkajs encodes: key, value, headers (strings, bytes, lists), deltas', () => {
    const { Encoder, recordEncoder: stockRecord } = stock()
    const tunedRecord = recordEncoder(Encoder)
    const next = random(2)
    const text = (n: number) =>
      Array.from({ length: n }, () =>
        String.fromCodePoint(next() < 0.1 ? 0x4e00 + Math.floor(next() * 500) : 97 + Math.floor(next() * 26)),
      ).join('')
    const blob = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256)))
    for (let i = 0; i < 500; i++) {
      const headers: Record<string, unknown> = {}
      for (let h = Math.floor(next() * 7); h > 0; h--) {
        const choice = next()
        headers[text(1 + Math.floor(next() * 20))] =
          choice < 0.5
            ? text(Math.floor(next() * 60))
            : choice < 0.8
              ? blob(Math.floor(next() * 40))
              : [text(3), blob(2)]
      }
      const record = {
        offsetDelta: Math.floor(next() * 5000),
        timestampDelta: next() < 0.2 ? 2 ** 33 + Math.floor(next() * 1000) : Math.floor(next() * 100_000),
        key:
          next() < 0.1 ? null : next() < 0.5 ? text(Math.floor(next() * 40)) : blob(Math.floor(next() * 40)),
        value: next() < 0.1 ? null : blob(Math.floor(next() * (next() < 0.2 ? 5000 : 600))),
        headers,
      }
      const tuned = tunedRecord(record)
      assert.equal(
        bytes(tuned),
        withStockVarInts(() => bytes(stockRecord(record))),
        `record ${i}`,
      )
      assert.equal(tuned.buf.length, tuned.offset, `record ${i} is allocated at its exact size`)
    }
    // kafkajs's defaults: no deltas given, no headers.
    const bare = { key: Buffer.from('k'), value: Buffer.from('v') }
    assert.equal(
      bytes(tunedRecord(bare)),
      withStockVarInts(() => bytes(stockRecord(bare))),
    )
  })

  test("a batch's records are appended as kafkajs appends them; a bad array gets kafkajs's error", () => {
    const { Encoder, recordEncoder: stockRecord } = stock()
    const next = random(5)
    for (const count of [0, 1, 7, 300, 2000]) {
      const sizes = Array.from({ length: count }, () => Math.floor(next() * 900))
      const build = () => {
        const records = sizes.map((size, i) =>
          stockRecord({ offsetDelta: i, key: Buffer.from(`k${i}`), value: Buffer.alloc(size, i % 251) }),
        )
        return new Encoder().writeInt32(count).writeEncoderArray(records)
      }
      assert.equal(
        bytes(build()),
        withStockVarInts(() => bytes(build())),
        `${count} records`,
      )
    }
    assert.throws(
      () => new Encoder().writeEncoderArray([{} as KafkajsEncoder]),
      /all values should be an instance of Encoder\[\]/,
    )
  })

  test('messages are grouped by partition as kafkajs groups them, in the order given', () => {
    const next = random(3)
    const partitionMetadata = [{ partitionId: 0 }, { partitionId: 1 }, { partitionId: 2 }, { partitionId: 3 }]
    const messages = Array.from({ length: 3000 }, (_, i) => ({ i, partition: Math.floor(next() * 4) }))
    const partitioner = ({ message }: { message: unknown }) => (message as { partition: number }).partition
    const args = { topic: 't', partitionMetadata, messages, partitioner }
    const grouped = groupMessagesPerPartition(args)
    assert.deepEqual(grouped, stock().groupMessagesPerPartition(args))
    assert.deepEqual(Object.keys(grouped).sort(), ['0', '1', '2', '3'])
    for (const list of Object.values(grouped)) {
      const order = list.map((m) => (m as { i: number }).i)
      assert.deepEqual(
        order,
        [...order].sort((a, b) => a - b),
      )
    }
    assert.deepEqual(groupMessagesPerPartition({ ...args, partitionMetadata: [] }), {})
  })

  test("a record batch's CRC-32C is kafkajs's for every length and alignment, and the standard check value", () => {
    const { crc32c: stockCrc } = stock()
    const tunedCrc = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (bytes: Buffer) => number
    assert.notEqual(tunedCrc, stockCrc, 'the module kafkajs uses is the replacement')
    // CRC-32C("123456789"), the catalogue's check value.
    assert.equal(tunedCrc(Buffer.from('123456789')), 0xe3069283)
    const next = random(4)
    const pool = Buffer.from(Array.from({ length: 70_000 }, () => Math.floor(next() * 256)))
    for (let length = 0; length < 300; length++) {
      for (const start of [0, 1, 3, 7]) {
        const slice = pool.subarray(start, start + length)
        assert.equal(tunedCrc(slice), stockCrc(slice), `length ${length} from byte ${start}`)
      }
    }
    assert.equal(tunedCrc(pool), stockCrc(pool), 'a 70 kB batch')
  })

  test("a key's murmur2 and partition are kafkajs's (the Java client's) for keys of every length", () => {
    const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (
      key: Buffer,
    ) => number
    const { Partitioners } = require('kafkajs') as typeof import('kafkajs')
    const next = random(4)
    for (let i = 0; i < 5000; i++) {
      const key = Buffer.from(Array.from({ length: Math.floor(next() * 70) }, () => Math.floor(next() * 256)))
      assert.equal(murmur2(key), kafkajsMurmur2(key), key.toString('hex'))
      const partitions = 1 + Math.floor(next() * 64)
      const partitionMetadata = Array.from({ length: partitions }, (_, p) => ({ partitionId: p, leader: 1 }))
      const choose = Partitioners.DefaultPartitioner()
      assert.equal(
        partitionForKey(key, partitions),
        choose({ topic: 't', partitionMetadata: partitionMetadata as never, message: { key, value: null } }),
      )
    }
    // Known values from the Java client (Utils.murmur2).
    assert.equal(murmur2(Buffer.from('21')), -973932308)
    assert.equal(murmur2(Buffer.from('foobar')), -790332482)
    assert.equal(murmur2(Buffer.from('a-little-bit-long-string')), -985981536)
  })
})
