import { createRequire } from 'node:module'
import { crc32c } from './crc32c.js'

/**
 * kafkajs 2.2.4 (its last release) allocates on every step of building a produce request, and
 * the relay's CPU goes there first (see README "Benchmarks"). Profiling a 400,000-event drain
 * found, per event:
 *
 * - grouping a send's messages by partition copies the partition's whole list for each message
 *   (`[...current, message]`): quadratic in the messages per partition, ~5.7 KB allocated per event
 *   at 2,000 messages per send;
 * - every record and every header gets its own 512-byte zero-filled Buffer, grown and copied when
 *   a record is larger (Buffer construction alone was 11% of the relay's CPU);
 * - every varint is written through a fresh array and a fresh Buffer, every varlong through
 *   64-bit Long objects;
 * - a batch's records are appended one by one to a buffer that doubles and is copied as it grows;
 * - a batch's CRC-32C is computed a byte at a time (3% of the relay's CPU after the above).
 *
 * This module replaces those internals with equivalents written here that produce the same bytes
 * (test/unit/kafkajs-tuning.test.ts compares them with the originals) without the allocations:
 * a 400,000-row drain ran at ~31,000 events/s instead of ~19,000. It is imported by
 * src/kafka/client.ts before kafkajs.
 *
 * Three of the replacements are modules that kafkajs captures when it loads (`require` at the top
 * of the module using them), so each applies only if the module using it has not been loaded yet.
 * The record encoder and the CRC are loaded with the produce request, on first use; the partition
 * grouping with the producer, so in an application that imported kafkajs before Postbox it stays
 * kafkajs's own, which is slower but the same (`kafkajsTuning.skipped` says so). Any kafkajs
 * version other than the one these were written against is left untouched.
 */
export interface KafkajsTuning {
  /** The kafkajs version found. */
  version: string
  /** Replacements in effect. */
  applied: string[]
  /** Replacements not made, each with its reason. */
  skipped: string[]
}

const TUNED_VERSION = '2.2.4'

const require = createRequire(import.meta.url)

const MODULES = {
  encoder: 'kafkajs/src/protocol/encoder.js',
  group: 'kafkajs/src/producer/groupMessagesPerPartition.js',
  groupUser: 'kafkajs/src/producer/sendMessages.js',
  record: 'kafkajs/src/protocol/recordBatch/record/v0/index.js',
  recordUser: 'kafkajs/src/protocol/requests/produce/v3/request.js',
  crc: 'kafkajs/src/protocol/recordBatch/crc32C/index.js',
  crcUser: 'kafkajs/src/protocol/recordBatch/v0/index.js',
} as const

/** The part of kafkajs's Encoder these replacements use. */
export interface KafkajsEncoder {
  buf: Buffer
  offset: number
  readonly buffer: Buffer
  ensureAvailable(length: number): void
  writeInt8(value: number): this
  writeInt32(value: number): this
  writeVarInt(value: number): this
  writeUVarInt(value: number): this
  writeVarLong(value: unknown): this
  writeVarIntBytes(value: unknown): this
  writeVarIntString(value: string | null): this
  writeEncoderArray(value: readonly KafkajsEncoder[]): this
}

export interface KafkajsEncoderClass {
  new (initialSize?: number): KafkajsEncoder
  prototype: KafkajsEncoder
  encodeZigZag(value: number): number
  sizeOfVarInt(value: number): number
  sizeOfVarLong(value: unknown): number
  sizeOfVarIntBytes(value: unknown): number
}

type HeaderValues = Record<string, unknown>
export type RecordEncoder = (record: {
  offsetDelta?: number
  timestampDelta?: number
  key: unknown
  value: unknown
  headers?: HeaderValues
}) => KafkajsEncoder
export type GroupMessages = (args: {
  topic: string
  partitionMetadata: readonly unknown[]
  messages: readonly unknown[]
  partitioner: (args: { topic: string; partitionMetadata: readonly unknown[]; message: unknown }) => number
}) => Record<number, unknown[]>

/** A number whose 64-bit zigzag varint equals its 32-bit one. */
const isInt32 = (value: unknown): value is number => typeof value === 'number' && (value | 0) === value

/** The bytes of an unsigned varint of a 32-bit value (7 bits per byte). */
function uvarIntBytes(value: number): number {
  const v = value >>> 0
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5
}

/**
 * Varints written into the encoder's buffer, without an array and a Buffer per value; an array of
 * encoders (a batch's records) copied into a buffer grown once to its total size, instead of
 * doubling and copying ~log2(size) times (a ~1 MB batch allocated ~2 MB more on its way there).
 */
function tuneWrites(Encoder: KafkajsEncoderClass): void {
  const proto = Encoder.prototype
  const writeEncoderArray = proto.writeEncoderArray
  proto.writeEncoderArray = function (this: KafkajsEncoder, value: readonly KafkajsEncoder[]) {
    // Anything but an array of encoders gets kafkajs's own checks and error.
    if (!Array.isArray(value) || value.some((v) => v == null || !Buffer.isBuffer(v.buf))) {
      return writeEncoderArray.call(this, value)
    }
    let total = 0
    for (const v of value) total += v.offset
    this.ensureAvailable(total)
    for (const v of value) {
      v.buf.copy(this.buf, this.offset, 0, v.offset)
      this.offset += v.offset
    }
    return this
  }
  const writeVarLong = proto.writeVarLong
  const sizeOfVarLong = Encoder.sizeOfVarLong.bind(Encoder)
  proto.writeUVarInt = function writeUVarInt(this: KafkajsEncoder, value: number) {
    // Exactly the bytes this varint takes, so an encoder sized to its content never grows.
    this.ensureAvailable(uvarIntBytes(value))
    const buf = this.buf
    let v = value
    while ((v & 0xffffff80) !== 0) {
      buf[this.offset++] = (v & 0x7f) | 0x80
      v >>>= 7
    }
    buf[this.offset++] = v & 0x7f
    return this
  }
  // A varlong of a value in 32-bit range is the same bytes as its varint (zigzag keeps the sign in
  // bit 0 either way); timestamp deltas and offsets of a batch are such values.
  proto.writeVarLong = function (this: KafkajsEncoder, value: unknown) {
    return isInt32(value) ? this.writeVarInt(value) : writeVarLong.call(this, value)
  }
  Encoder.sizeOfVarLong = (value: unknown) =>
    isInt32(value) ? Encoder.sizeOfVarInt(value) : sizeOfVarLong(value)
}

/** Messages by partition in one pass, each partition's messages in the order given. */
export const groupMessagesPerPartition: GroupMessages = ({
  topic,
  partitionMetadata,
  messages,
  partitioner,
}) => {
  const result: Record<number, unknown[]> = {}
  if (partitionMetadata.length === 0) return result
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message })
    const list = result[partition]
    if (list === undefined) result[partition] = [message]
    else list.push(message)
  }
  return result
}

/**
 * kafkajs's record v0 encoder, writing the headers into the record's own buffer, sized once:
 * Length, Attributes, TimestampDelta, OffsetDelta, Key, Value, then [HeaderKey HeaderValue]
 * (a header whose value is a list is one header per item, in order).
 */
export function recordEncoder(Encoder: KafkajsEncoderClass): RecordEncoder {
  return ({ offsetDelta = 0, timestampDelta = 0, key, value, headers = {} }) => {
    const names = Object.keys(headers)
    let count = 0
    let headerBytes = 0
    for (const name of names) {
      const values = headers[name]
      const nameBytes = Encoder.sizeOfVarIntBytes(name)
      if (Array.isArray(values)) {
        for (const item of values) headerBytes += nameBytes + Encoder.sizeOfVarIntBytes(item)
        count += values.length
      } else {
        headerBytes += nameBytes + Encoder.sizeOfVarIntBytes(values)
        count++
      }
    }
    const sizeOfBody =
      1 +
      Encoder.sizeOfVarLong(timestampDelta) +
      Encoder.sizeOfVarInt(offsetDelta) +
      Encoder.sizeOfVarIntBytes(key) +
      Encoder.sizeOfVarIntBytes(value) +
      Encoder.sizeOfVarInt(count) +
      headerBytes
    // Exactly the record's size, from Node's buffer pool for a record under 4 kB, not zero-filled:
    // kafkajs's constructor zero-fills a power of two of its own (only the bytes written are read).
    const encoder = Object.create(Encoder.prototype) as KafkajsEncoder
    encoder.buf = Buffer.allocUnsafe(Encoder.sizeOfVarInt(sizeOfBody) + sizeOfBody)
    encoder.offset = 0
    encoder
      .writeVarInt(sizeOfBody)
      .writeInt8(0) // no record attributes are used
      .writeVarLong(timestampDelta)
      .writeVarInt(offsetDelta)
      .writeVarIntBytes(key)
      .writeVarIntBytes(value)
      .writeVarInt(count)
    for (const name of names) {
      const values = headers[name]
      if (Array.isArray(values)) {
        for (const item of values) encoder.writeVarIntString(name).writeVarIntBytes(item)
      } else {
        encoder.writeVarIntString(name).writeVarIntBytes(values)
      }
    }
    return encoder
  }
}

/** The stock implementations, kept before replacing them (for the equivalence tests). */
export interface StockKafkajs {
  Encoder: KafkajsEncoderClass
  groupMessagesPerPartition: GroupMessages
  recordEncoder: RecordEncoder
  crc32c: (bytes: Buffer) => number
  writeUVarInt: KafkajsEncoder['writeUVarInt']
  writeVarLong: KafkajsEncoder['writeVarLong']
  writeEncoderArray: KafkajsEncoder['writeEncoderArray']
  sizeOfVarLong: KafkajsEncoderClass['sizeOfVarLong']
}

let stock: StockKafkajs | null = null

/** Replaces a module's exports before the module that uses it is loaded. */
function replaceModule(name: string, user: string, replacement: unknown): string | null {
  if (require.cache[require.resolve(user)] !== undefined) return `${name}: kafkajs was loaded before Postbox`
  const loaded = require.cache[require.resolve(name)]
  if (loaded === undefined) return `${name}: not loaded`
  loaded.exports = replacement
  return null
}

function tune(): KafkajsTuning {
  const version = (require('kafkajs/package.json') as { version: string }).version
  const tuning: KafkajsTuning = { version, applied: [], skipped: [] }
  if (version !== TUNED_VERSION) {
    tuning.skipped.push(
      `kafkajs ${version} is not ${TUNED_VERSION}, which these replacements were written for`,
    )
    return tuning
  }
  const Encoder = require(MODULES.encoder) as KafkajsEncoderClass
  stock = {
    Encoder,
    groupMessagesPerPartition: require(MODULES.group) as GroupMessages,
    recordEncoder: require(MODULES.record) as RecordEncoder,
    crc32c: require(MODULES.crc) as (bytes: Buffer) => number,
    writeUVarInt: Encoder.prototype.writeUVarInt,
    writeVarLong: Encoder.prototype.writeVarLong,
    writeEncoderArray: Encoder.prototype.writeEncoderArray,
    sizeOfVarLong: Encoder.sizeOfVarLong,
  }
  tuneWrites(Encoder)
  tuning.applied.push('encoder writes')
  for (const [name, user, replacement, label] of [
    [MODULES.group, MODULES.groupUser, groupMessagesPerPartition, 'partition grouping'],
    [MODULES.record, MODULES.recordUser, recordEncoder(Encoder), 'record encoder'],
    [MODULES.crc, MODULES.crcUser, crc32c, 'record batch CRC-32C'],
  ] as const) {
    const skipped = replaceModule(name, user, replacement)
    if (skipped === null) tuning.applied.push(label)
    else tuning.skipped.push(skipped)
  }
  return tuning
}

/** Tunes what it can; a kafkajs laid out otherwise than expected stays as it is, never broken. */
function tuneSafely(): KafkajsTuning {
  try {
    return tune()
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    return { version: 'unknown', applied: [], skipped: [`kafkajs could not be tuned: ${reason}`] }
  }
}

/** What was replaced in this process (applied once, when this module is first imported). */
export const kafkajsTuning: KafkajsTuning = tuneSafely()

/** The stock kafkajs implementations replaced here, or null when nothing was. */
export function stockKafkajs(): StockKafkajs | null {
  return stock
}
