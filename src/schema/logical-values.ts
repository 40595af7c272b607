// Conversions between the JavaScript values an application passes and the Avro representation of
// each logical type. Each `to…` returns undefined for a value it does not accept; the codec then
// reports the field as invalid with the type's `expected` text.

const DAY_MS = 86_400_000

export const EXPECTED = {
  'timestamp-millis':
    'a Date, an ISO 8601 date-time string, or whole milliseconds since 1970-01-01T00:00:00Z (number or bigint)',
  'timestamp-micros':
    'a Date, an ISO 8601 date-time string, or whole microseconds since 1970-01-01T00:00:00Z (number or bigint)',
  date: 'a Date (its UTC day), a "YYYY-MM-DD" string, or whole days since 1970-01-01',
  'time-millis': 'an "HH:MM[:SS[.fff]]" string, a Date (its UTC time of day), or milliseconds after midnight',
  decimal: 'a numeric string such as "12.34", a number, or a bigint',
  uuid: 'a UUID string such as "123e4567-e89b-12d3-a456-426614174000"',
} as const

export type LogicalTypeName = keyof typeof EXPECTED

const ISO_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?)?$/

/** An ISO 8601 string as whole milliseconds and the microseconds within that millisecond (a missing offset is UTC). */
function parseIsoDateTime(text: string): { millis: number; micros: number } | undefined {
  const m = ISO_DATE_TIME.exec(text)
  if (m === null) return undefined
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ]
  const local = Date.UTC(year, month - 1, day, hour, minute, second)
  const check = new Date(local)
  // Date.UTC rolls 2024-02-30 over into March: a date that does not exist is refused instead.
  if (
    Number.isNaN(local) ||
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    return undefined
  }
  const fraction = (m[7] ?? '').padEnd(6, '0')
  const offset = m[8]
  let offsetMinutes = 0
  if (offset !== undefined && offset.toUpperCase() !== 'Z') {
    const digits = offset.replace(':', '')
    const sign = digits.startsWith('-') ? -1 : 1
    offsetMinutes = sign * (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5) || 0))
  }
  return {
    millis: local - offsetMinutes * 60_000 + Number(fraction.slice(0, 3)),
    micros: Number(fraction.slice(3, 6)),
  }
}

function safeWhole(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined
  if (typeof value === 'bigint') {
    const n = Number(value)
    return Number.isSafeInteger(n) ? n : undefined
  }
  return undefined
}

function validDate(value: unknown): value is Date {
  return value instanceof Date && !Number.isNaN(value.getTime())
}

export function toTimestampMillis(value: unknown): number | undefined {
  if (validDate(value)) return value.getTime()
  if (typeof value === 'string') return parseIsoDateTime(value)?.millis
  return safeWhole(value)
}

export function toTimestampMicros(value: unknown): number | undefined {
  if (validDate(value)) return value.getTime() * 1000
  if (typeof value === 'string') {
    const parsed = parseIsoDateTime(value)
    if (parsed === undefined) return undefined
    const micros = parsed.millis * 1000 + parsed.micros
    return Number.isSafeInteger(micros) ? micros : undefined
  }
  return safeWhole(value)
}

const INT_MIN = -2_147_483_648
const INT_MAX = 2_147_483_647

function int32(value: number | undefined): number | undefined {
  return value !== undefined && value >= INT_MIN && value <= INT_MAX ? value : undefined
}

export function toDateDays(value: unknown): number | undefined {
  if (validDate(value)) return Math.floor(value.getTime() / DAY_MS)
  if (typeof value === 'string') {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return undefined
    const parsed = parseIsoDateTime(value)
    return parsed === undefined ? undefined : parsed.millis / DAY_MS
  }
  return int32(safeWhole(value))
}

export function toTimeMillis(value: unknown): number | undefined {
  if (validDate(value)) return ((value.getTime() % DAY_MS) + DAY_MS) % DAY_MS
  if (typeof value === 'string') {
    const m = /^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?$/.exec(value)
    if (m === null) return undefined
    const [hour, minute, second] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)]
    if (hour > 23 || minute > 59 || second > 59) return undefined
    return ((hour * 60 + minute) * 60 + second) * 1000 + Number((m[4] ?? '').padEnd(3, '0').slice(0, 3))
  }
  const ms = safeWhole(value)
  return ms !== undefined && ms >= 0 && ms < DAY_MS ? ms : undefined
}

export function toUuid(value: unknown): string | undefined {
  return typeof value === 'string' &&
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)
    ? value
    : undefined
}

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d*))?(?:e([+-]?\d+))?$/i

/** The unscaled integer of a decimal (value × 10^scale), or undefined when it needs more digits. */
export function toUnscaled(value: unknown, precision: number, scale: number): bigint | undefined {
  let unscaled: bigint
  if (typeof value === 'bigint') {
    unscaled = value * 10n ** BigInt(scale)
  } else {
    let text: string
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return undefined
      text = String(value)
    } else if (typeof value === 'string') {
      text = value.trim()
    } else {
      return undefined
    }
    const m = DECIMAL.exec(text)
    if (m === null) return undefined
    const fraction = m[3] ?? ''
    const shift = scale + Number(m[4] ?? 0) - fraction.length
    let digits = BigInt(`${m[2]}${fraction}`)
    if (shift >= 0) {
      digits *= 10n ** BigInt(shift)
    } else {
      // More fractional digits than the scale: accepted only when they are zeros, never rounded.
      const divisor = 10n ** BigInt(-shift)
      if (digits % divisor !== 0n) return undefined
      digits /= divisor
    }
    unscaled = m[1] === '-' ? -digits : digits
  }
  const magnitude = unscaled < 0n ? -unscaled : unscaled
  return magnitude.toString().length <= precision ? unscaled : undefined
}

/** Two's-complement big-endian bytes of `n`: the fewest that hold it, or exactly `size` (undefined if too small). */
export function twosComplement(n: bigint, size?: number): Buffer | undefined {
  let length = 1
  while (n < -(1n << BigInt(8 * length - 1)) || n >= 1n << BigInt(8 * length - 1)) length++
  if (size !== undefined) {
    if (length > size) return undefined
    length = size
  }
  const out = Buffer.alloc(length)
  let rest = BigInt.asUintN(8 * length, n)
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(rest & 0xffn)
    rest >>= 8n
  }
  return out
}

/** A decimal's bytes back to its exact text, e.g. "-12.30" for scale 2. */
export function decimalText(bytes: Buffer, scale: number): string {
  let n = 0n
  for (const byte of bytes) n = (n << 8n) | BigInt(byte)
  if (bytes.length > 0) n = BigInt.asIntN(8 * bytes.length, n)
  const negative = n < 0n
  const digits = (negative ? -n : n).toString().padStart(scale + 1, '0')
  const whole = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`
  return negative ? `-${whole}` : whole
}

/** Most decimal digits a two's-complement number of `size` bytes always holds. */
export function fixedPrecisionLimit(size: number): number {
  return ((1n << BigInt(8 * size - 1)) - 1n).toString().length - 1
}
