import { InvalidArgumentError } from 'commander'

import { DURATION, durationMs } from '../duration.js'

const DAY_MS = 86_400_000
/** The longest duration accepted: a century (longer is a typo, and leaves the range of a timestamp). */
const MAX_DURATION_DAYS = 36_500

/** Parses "90s", "15m", "2h", "7d", "1w" into milliseconds (commander option parser). */
export function parseDuration(value: string): number {
  const ms = durationMs(value)
  if (ms === null || ms > MAX_DURATION_DAYS * DAY_MS)
    throw new InvalidArgumentError(
      `expected a duration such as 90s, 15m, 2h, 7d or 1w, from 0s to ${MAX_DURATION_DAYS}d`,
    )
  return ms
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})/

/** A point in time: an ISO 8601 timestamp, or a duration meaning that long ago ("2h" = two hours ago). */
export function parseInstant(now: () => Date): (value: string) => Date {
  return (value) => {
    if (DURATION.test(value.trim())) return new Date(now().getTime() - parseDuration(value))
    const day = ISO_DATE.exec(value)
    const date = new Date(value)
    // new Date() rolls 2025-02-30 over to 2 March: check the calendar date as written.
    const [year, month, dayOfMonth] = (day ?? []).slice(1).map(Number)
    const daysInMonth =
      year === undefined || month === undefined ? 0 : new Date(Date.UTC(year, month, 0)).getUTCDate()
    if (
      day === null ||
      Number.isNaN(date.getTime()) ||
      month === undefined ||
      month < 1 ||
      month > 12 ||
      dayOfMonth === undefined ||
      dayOfMonth < 1 ||
      dayOfMonth > daysInMonth
    ) {
      throw new InvalidArgumentError(
        `expected an ISO timestamp (2025-01-31T12:00:00Z) with a real calendar date, or a duration ago from 0s to ${MAX_DURATION_DAYS}d (2h, 7d)`,
      )
    }
    return date
  }
}

const MAX_COUNT = 1_000_000

export function parsePositiveInt(value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > MAX_COUNT)
    throw new InvalidArgumentError(`expected a whole number from 1 to ${MAX_COUNT}`)
  return n
}

const MIN_RATE = 0.01
const MAX_RATE = 1_000_000

/** Rows per second; fractions allowed (0.5 = one row every two seconds, 0.01 = one every 100 s). */
export function parseRate(value: string): number {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n < MIN_RATE || n > MAX_RATE)
    throw new InvalidArgumentError(`expected rows per second from ${MIN_RATE} to ${MAX_RATE}`)
  return n
}

const MAX_ROW_ID = 9_223_372_036_854_775_807n

/** An outbox row id (a positive bigint), kept as a string. */
export function isRowId(value: string): boolean {
  return /^[1-9]\d{0,18}$/.test(value) && BigInt(value) <= MAX_ROW_ID
}

export function parseRowId(value: string): string {
  if (!isRowId(value)) throw new InvalidArgumentError(`expected an outbox row id from 1 to ${MAX_ROW_ID}`)
  return value
}

/** A TCP port; 0 picks a free one. */
export function parsePort(value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value.trim()) || n > 65_535)
    throw new InvalidArgumentError('expected a TCP port 0 … 65535 (0 picks a free one)')
  return n
}

/** A number of seconds from `min` up to a week (a longer wait is a typo, and would overflow a timer). */
export function parseSeconds(range: { min: number }): (value: string) => number {
  const max = 7 * 86_400
  return (value) => {
    const n = Number(value)
    if (value.trim() === '' || !Number.isFinite(n) || n < range.min || n > max)
      throw new InvalidArgumentError(`expected a number of seconds from ${range.min} to ${max}`)
    return n
  }
}
