/** How a batched operation runs: its batch size, an optional rate, and a signal that stops it between batches. */
export interface BatchLoopOptions {
  /** Rows per batch. */
  batchSize: number
  /** At most this many rows per second, measured from the first batch (unset: as fast as it goes). */
  rowsPerSecond?: number
  /** Once aborted, the loop returns after the batch in flight (its work is committed). */
  signal?: AbortSignal
}

export interface BatchLoopResult {
  rows: number
  batches: number
  /** True when the signal stopped the loop before the work was done. */
  stopped: boolean
}

/** One batch: processes at most `limit` rows and says how many, and whether any are left. */
export type BatchStep = (limit: number) => Promise<{ rows: number; done: boolean }>

/**
 * Runs `step` until it is done or `signal` aborts, each batch its own short unit of work, paced
 * to `rowsPerSecond` so a run cannot flood the relay, Kafka or consumers.
 */
export async function runBatches(
  options: BatchLoopOptions,
  step: BatchStep,
  onBatch: (rows: number) => void = () => {},
): Promise<BatchLoopResult> {
  const started = Date.now()
  const rate = options.rowsPerSecond
  // About one batch a second when a rate is set.
  const limit =
    rate === undefined ? options.batchSize : Math.max(1, Math.min(options.batchSize, Math.ceil(rate)))
  let rows = 0
  let batches = 0
  for (;;) {
    if (options.signal?.aborted === true) return { rows, batches, stopped: true }
    const batch = await step(limit)
    rows += batch.rows
    if (batch.rows > 0) batches++
    onBatch(batch.rows)
    if (batch.done) return { rows, batches, stopped: false }
    if (rate !== undefined) await sleep(started + (rows / rate) * 1000 - Date.now(), options.signal)
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0 || signal?.aborted === true) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done)
  })
}
