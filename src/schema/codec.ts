import avro from 'avsc'
import type { AvroSchema } from '../catalog/types.js'

/** An Avro type compiled once; the only place that touches avsc. */
export interface AvroCodec {
  /** Paths of the fields that do not fit the schema (empty when the value is valid). */
  invalidPaths(value: unknown): string[]
  encode(value: unknown): Buffer
  decode(body: Buffer): unknown
  /** Canonical schema text, as the registry stores it. */
  readonly schemaText: string
  /** True when a reader with this schema can read data written with `writer`. */
  canRead(writer: AvroCodec): boolean
  /** Why a reader with this schema cannot read data written with `writer`, or null when it can. */
  readProblem(writer: AvroCodec): string | null
}

export function compileSchema(schema: AvroSchema): AvroCodec {
  const type = avro.Type.forSchema(schema as avro.Schema, { wrapUnions: 'auto' })
  const readProblem = (writer: AvroCodec): string | null => {
    const writerType = avro.Type.forSchema(JSON.parse(writer.schemaText) as avro.Schema, {
      wrapUnions: 'auto',
    })
    try {
      type.createResolver(writerType)
      return null
    } catch (error) {
      return error instanceof Error ? error.message : String(error)
    }
  }
  return {
    schemaText: JSON.stringify(schema),
    invalidPaths(value) {
      const paths: string[] = []
      type.isValid(value, {
        errorHook(path) {
          paths.push(path.length === 0 ? '(root)' : path.join('.'))
        },
      })
      return paths
    },
    encode: (value) => type.toBuffer(value),
    decode: (body) => type.fromBuffer(body),
    canRead: (writer) => readProblem(writer) === null,
    readProblem,
  }
}

const MAGIC_BYTE = 0

/** Confluent wire format: magic byte 0, big-endian schema id, then the Avro body. */
export function frame(schemaId: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length)
  out.writeUInt8(MAGIC_BYTE, 0)
  out.writeUInt32BE(schemaId, 1)
  body.copy(out, 5)
  return out
}

export function unframe(message: Buffer): { schemaId: number; body: Buffer } {
  if (message.length < 5 || message.readUInt8(0) !== MAGIC_BYTE) {
    throw new Error('not a Confluent wire-format frame (magic byte 0 + 4-byte schema id)')
  }
  return { schemaId: message.readUInt32BE(1), body: message.subarray(5) }
}
