const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const
export const DURATION = /^(\d+)(s|m|h|d|w)$/

/** "90s", "15m", "2h", "7d", "1w" in milliseconds, or null when the text is not such a duration. */
export function durationMs(value: string): number | null {
  const match = DURATION.exec(value.trim())
  if (match === null) return null
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]
}
