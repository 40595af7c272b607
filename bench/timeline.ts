// Drain rates from a timeline of cumulative acknowledged events.

export interface Point {
  /** performance.now() in ms */
  at: number
  /** events acknowledged so far */
  done: number
}

/** When the timeline first reached `target` events, interpolated between points. */
function crossing(points: readonly Point[], target: number): number {
  let previous: Point = { at: points[0]?.at ?? 0, done: 0 }
  for (const p of points) {
    if (p.done >= target) {
      if (p.done === previous.done) return p.at
      return previous.at + ((target - previous.done) / (p.done - previous.done)) * (p.at - previous.at)
    }
    previous = p
  }
  return previous.at
}

/**
 * Steady rate: events between the 10% and the 90% marks over the time between them, so
 * start-up (connections, schema ids, topic creation, the first claim) and the tail stay out.
 */
export function steadyRate(points: readonly Point[], total: number): number {
  const from = crossing(points, total * 0.1)
  const to = crossing(points, total * 0.9)
  return to > from ? (total * 0.8) / ((to - from) / 1000) : Number.NaN
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
}

export function median(values: readonly number[]): number {
  return percentile(values, 50)
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A measurement that makes no progress for this long has failed (a first claim on a large, unanalysed backlog can take a while on a busy machine). */
export const STALL_MS = 180_000

/** Resolves when `done()` holds; throws when `progress()` has not moved for `stallMs`, saying why if `explain` can. */
export async function waitFor(
  what: string,
  done: () => boolean,
  progress: () => number,
  explain: () => Promise<string> = async () => '',
  stallMs = STALL_MS,
): Promise<void> {
  let seen = progress()
  let movedAt = performance.now()
  while (!done()) {
    await sleep(20)
    const now = progress()
    if (now !== seen) {
      seen = now
      movedAt = performance.now()
    } else if (performance.now() - movedAt > stallMs) {
      throw new Error(`${what}: no progress for ${stallMs / 1000} s (at ${now})\n${await explain()}`)
    }
  }
}

/** Epoch milliseconds from the monotonic clock (µs precision), comparable between processes. */
export function clock(): number {
  return performance.timeOrigin + performance.now()
}
