import { InvalidArgumentError } from 'commander'

import { DURATION, durationMs } from '../duration.js'

/** Parses "90s", "15m", "2h", "7d", "1w" into milliseconds (commander option parser). */
export function parseDuration(value: string): number {
  const ms = durationMs(value)
  if (ms === null) throw new InvalidArgumentError('expected a duration such as 90s, 15m, 2h, 7d or 1w')
  return ms
}

/** A point in time: an ISO 8601 timestamp, or a duration meaning that long ago ("2h" = two hours ago). */
export function parseInstant(now: () => Date): (value: string) => Date {
  return (value) => {
    if (DURATION.test(value.trim())) return new Date(now().getTime() - parseDuration(value))
    if (!/^\d{4}-\d{2}-\d{2}/.test(value)) {
      throw new InvalidArgumentError(
        'expected an ISO timestamp (2025-01-31T12:00:00Z) or a duration ago (2h, 7d)',
      )
    }
    const date = new Date(value)
    if (Number.isNaN(date.getTime())) throw new InvalidArgumentError(`"${value}" is not a valid timestamp`)
    return date
  }
}

export function parsePositiveInt(value: string): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive whole number')
  return n
}

/** Rows per second; fractions allowed (0.5 = one row every two seconds). */
export function parseRate(value: string): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError('expected a positive number of rows per second')
  return n
}

/** An outbox row id (bigint), kept as a string. */
export function isRowId(value: string): boolean {
  return /^[1-9]\d{0,18}$/.test(value)
}

export function parseRowId(value: string): string {
  if (!isRowId(value)) throw new InvalidArgumentError(`"${value}" is not an outbox row id`)
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
