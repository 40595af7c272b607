import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { compileSchema, unframe } from '../../src/schema/codec.js'

const schema = {
  type: 'record',
  name: 'Note',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'text', type: 'string' },
    { name: 'tags', type: { type: 'array', items: 'string' } },
  ],
} as const

describe('Confluent framing', () => {
  test('encodeFramed writes the magic byte, the schema id and the Avro body, whatever the size', () => {
    const codec = compileSchema(schema)
    // Sizes up and down: the first value larger than any before takes the resizing path.
    for (const length of [0, 3, 70, 700, 20, 5_000, 40_000, 12]) {
      const value = { id: length, text: 'x'.repeat(length), tags: ['a', 'é'.repeat(length % 7)] }
      const framed = codec.encodeFramed(4711, value)
      // Magic byte 0, then 4711 as a big-endian int32, then the body avsc encodes on its own.
      const expected = Buffer.concat([Buffer.from([0, 0, 0, 0x12, 0x67]), codec.encode(value)])
      assert.deepEqual(framed, expected, `length ${length}`)
      const { schemaId, body } = unframe(framed)
      assert.equal(schemaId, 4711)
      assert.deepEqual({ ...(codec.decode(body) as object) }, value)
    }
  })

  test('a value that does not fit the schema is refused, as encode refuses it', () => {
    const codec = compileSchema(schema)
    const bad = { id: 'one', text: 'x', tags: [] }
    assert.throws(() => codec.encode(bad), /invalid/)
    assert.throws(() => codec.encodeFramed(1, bad), /invalid/)
  })
})
