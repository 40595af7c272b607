/** Keeps a loop at or under `rowsPerSecond`, measured from the first row, so a run cannot flood Kafka. */
export function createPacer(rowsPerSecond: number | undefined) {
  const started = Date.now()
  let rows = 0
  return {
    /** Rows to take per batch: about one batch a second when a rate is set. */
    batchSize(preferred: number): number {
      return rowsPerSecond === undefined
        ? preferred
        : Math.max(1, Math.min(preferred, Math.ceil(rowsPerSecond)))
    },
    async done(n: number): Promise<void> {
      rows += n
      if (rowsPerSecond === undefined) return
      const wait = started + (rows / rowsPerSecond) * 1000 - Date.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    },
  }
}
