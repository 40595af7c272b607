/** Bounded exponential backoff with full jitter: attempt n waits a random time in [0, min(max, initial·2ⁿ)]. */
export class Backoff {
  private attempt = 0

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt)
    this.attempt = Math.min(this.attempt + 1, 30)
    return Math.max(this.initialMs / 2, Math.round(ceiling * this.random()))
  }

  reset(): void {
    this.attempt = 0
  }

  get failures(): number {
    return this.attempt
  }
}
