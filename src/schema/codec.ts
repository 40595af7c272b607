import avro from 'avsc'
import type { AvroSchema } from '../catalog/types.js'
import {
  decimalText,
  EXPECTED,
  fixedPrecisionLimit,
  type LogicalTypeName,
  toDateDays,
  toTimeMillis,
  toTimestampMicros,
  toTimestampMillis,
  toUnscaled,
  toUuid,
  twosComplement,
} from './logical-values.js'

/** A field whose value does not fit the schema, and what its type accepts when it says. */
export interface InvalidField {
  path: string
  /** For a logical type: the values it accepts. */
  expected: string | undefined
}

/** An Avro type compiled once; the only place that touches avsc. */
export interface AvroCodec {
  /** Paths of the fields that do not fit the schema (empty when the value is valid). */
  invalidPaths(value: unknown): string[]
  /** The fields that do not fit the schema, with what a logical type expected. */
  invalidFields(value: unknown): InvalidField[]
  encode(value: unknown): Buffer
  /** The Confluent wire format of a value: the magic byte, the schema id, then the Avro body. */
  encodeFramed(schemaId: number, value: unknown): Buffer
  /** Logical types decode to Date (timestamps, date), milliseconds (time-millis) and exact strings (decimal). */
  decode(body: Buffer): unknown
  /** Canonical schema text, as the registry stores it. */
  readonly schemaText: string
  /** True when a reader with this schema can read data written with `writer`. */
  canRead(writer: AvroCodec): boolean
  /** Why a reader with this schema cannot read data written with `writer`, or null when it can. */
  readProblem(writer: AvroCodec): string | null
}

type Attributes = Record<string, unknown>

/**
 * A logical type on its underlying Avro type. A schema whose logical type does not fit its
 * underlying type (say timestamp-millis on a string) is read as the underlying type alone, as
 * the Avro specification says: the constructor throws and avsc falls back.
 */
abstract class PostboxLogicalType extends avro.types.LogicalType {
  abstract readonly logicalName: LogicalTypeName

  get expected(): string {
    return `${EXPECTED[this.logicalName]} (${this.logicalName})`
  }

  protected requireUnderlying(...typeNames: string[]): void {
    if (!typeNames.includes(this.underlyingType.typeName)) {
      throw new Error(`${this.constructor.name} needs ${typeNames.join(' or ')}`)
    }
  }

  /** Reads data written with the same logical type, or with its plain underlying type. */
  protected override _resolve(writer: avro.Type): ((value: unknown) => unknown) | undefined {
    const sameLogical = writer instanceof PostboxLogicalType && writer.logicalName === this.logicalName
    const sameUnderlying = writer.typeName === this.underlyingType.typeName
    return sameLogical || sameUnderlying ? (value) => this._fromValue(value) : undefined
  }
}

class TimestampMillis extends PostboxLogicalType {
  readonly logicalName = 'timestamp-millis'
  constructor(schema: avro.Schema, opts?: unknown) {
    super(schema, opts)
    this.requireUnderlying('long')
  }
  protected override _toValue = toTimestampMillis
  protected override _fromValue = (millis: number) => new Date(millis)
}

class TimestampMicros extends PostboxLogicalType {
  readonly logicalName = 'timestamp-micros'
  constructor(schema: avro.Schema, opts?: unknown) {
    super(schema, opts)
    this.requireUnderlying('long')
  }
  protected override _toValue = toTimestampMicros
  protected override _fromValue = (micros: number) => new Date(Math.floor(micros / 1000))
}

class DateDays extends PostboxLogicalType {
  readonly logicalName = 'date'
  constructor(schema: avro.Schema, opts?: unknown) {
    super(schema, opts)
    this.requireUnderlying('int')
  }
  protected override _toValue = toDateDays
  protected override _fromValue = (days: number) => new Date(days * 86_400_000)
}

class TimeMillis extends PostboxLogicalType {
  readonly logicalName = 'time-millis'
  constructor(schema: avro.Schema, opts?: unknown) {
    super(schema, opts)
    this.requireUnderlying('int')
  }
  protected override _toValue = toTimeMillis
  protected override _fromValue = (millis: number) => millis
}

class Uuid extends PostboxLogicalType {
  readonly logicalName = 'uuid'
  constructor(schema: avro.Schema, opts?: unknown) {
    super(schema, opts)
    this.requireUnderlying('string')
  }
  protected override _toValue = toUuid
  protected override _fromValue = (text: string) => text
}

class Decimal extends PostboxLogicalType {
  readonly logicalName = 'decimal'
  private readonly precision: number
  private readonly scale: number
  private readonly size: number | undefined

  constructor(schema: avro.Schema, opts?: unknown) {
    super(schema, opts)
    this.requireUnderlying('bytes', 'fixed')
    const attrs = schema as Attributes
    this.precision = Number(attrs.precision)
    this.scale = attrs.scale === undefined ? 0 : Number(attrs.scale)
    this.size = this.underlyingType.typeName === 'fixed' ? Number(attrs.size) : undefined
    const limit = this.size === undefined ? Number.POSITIVE_INFINITY : fixedPrecisionLimit(this.size)
    if (!Number.isSafeInteger(this.precision) || this.precision < 1 || this.precision > limit) {
      throw new Error('decimal precision must be a positive integer the size can hold')
    }
    if (!Number.isSafeInteger(this.scale) || this.scale < 0 || this.scale > this.precision) {
      throw new Error('decimal scale must be between 0 and the precision')
    }
  }

  override get expected(): string {
    return `${EXPECTED.decimal} with at most ${this.precision} digits, ${this.scale} after the point (decimal(${this.precision}, ${this.scale}))`
  }

  protected override _toValue = (value: unknown): Buffer | undefined => {
    if (Buffer.isBuffer(value)) return value
    const unscaled = toUnscaled(value, this.precision, this.scale)
    return unscaled === undefined ? undefined : twosComplement(unscaled, this.size)
  }
  protected override _fromValue = (bytes: Buffer) => decimalText(bytes, this.scale)
  protected override _resolve(writer: avro.Type): ((value: unknown) => unknown) | undefined {
    if (writer instanceof Decimal && (writer.scale !== this.scale || writer.precision > this.precision)) {
      return undefined
    }
    return super._resolve(writer)
  }
}

const LOGICAL_TYPES = {
  'timestamp-millis': TimestampMillis,
  'timestamp-micros': TimestampMicros,
  date: DateDays,
  'time-millis': TimeMillis,
  decimal: Decimal,
  uuid: Uuid,
}

function typeOf(schema: AvroSchema): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, { wrapUnions: 'auto', logicalTypes: LOGICAL_TYPES })
}

export function compileSchema(schema: AvroSchema): AvroCodec {
  const type = typeOf(schema)
  let frameGuess = 64
  const readProblem = (writer: AvroCodec): string | null => {
    const writerType = typeOf(JSON.parse(writer.schemaText) as AvroSchema)
    try {
      type.createResolver(writerType)
      return null
    } catch (error) {
      return error instanceof Error ? error.message : String(error)
    }
  }
  const invalidFields = (value: unknown): InvalidField[] => {
    const fields: InvalidField[] = []
    try {
      type.isValid(value, {
        errorHook(path, _value, invalidType) {
          fields.push({
            path: path.length === 0 ? '(root)' : path.join('.'),
            expected: invalidType instanceof PostboxLogicalType ? invalidType.expected : undefined,
          })
        },
      })
    } catch {
      return fieldsThatThrow(type, value)
    }
    return fields
  }
  return {
    schemaText: JSON.stringify(schema),
    invalidFields,
    invalidPaths: (value) => invalidFields(value).map((f) => f.path),
    encode: (value) => type.toBuffer(value),
    encodeFramed: (schemaId, value) => {
      // Written straight after the 5-byte header, in a buffer of the largest size seen so far
      // (small ones come from Node's buffer pool), instead of an exact-size zero-filled buffer
      // then copied into the frame. avsc returns minus the bytes missing when it did not fit.
      let out = Buffer.allocUnsafe(frameGuess)
      let end = type.encode(value, out, FRAME_HEADER_BYTES)
      if (end < 0) {
        out = Buffer.allocUnsafe(out.length - end)
        end = type.encode(value, out, FRAME_HEADER_BYTES)
      }
      frameGuess = Math.max(frameGuess, end)
      out.writeUInt8(MAGIC_BYTE, 0)
      out.writeUInt32BE(schemaId, 1)
      return out.subarray(0, end)
    },
    decode: (body) => type.fromBuffer(body),
    canRead: (writer) => readProblem(writer) === null,
    readProblem,
  }
}

/** Confluent wire format: magic byte 0, big-endian schema id, then the Avro body. */
const MAGIC_BYTE = 0
const FRAME_HEADER_BYTES = 5

export function unframe(message: Buffer): { schemaId: number; body: Buffer } {
  if (message.length < FRAME_HEADER_BYTES || message.readUInt8(0) !== MAGIC_BYTE) {
    throw new Error('not a Confluent wire-format frame (magic byte 0 + 4-byte schema id)')
  }
  return { schemaId: message.readUInt32BE(1), body: message.subarray(FRAME_HEADER_BYTES) }
}

/**
 * avsc's int check computes `value | 0`, which throws for a bigint instead of reporting the field
 * invalid. The fields whose check throws or fails are the invalid ones.
 */
function fieldsThatThrow(type: avro.Type, value: unknown): InvalidField[] {
  if (type instanceof avro.types.RecordType && typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>
    const bad = type.fields.filter((field) => {
      try {
        return !field.type.isValid(record[field.name])
      } catch {
        return true
      }
    })
    if (bad.length > 0) return bad.map((field) => ({ path: field.name, expected: undefined }))
  }
  return [{ path: '(root)', expected: undefined }]
}
