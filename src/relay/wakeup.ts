/** A sleep that a notification, or stop(), ends early. */
export class Wakeup {
  private pending = false
  private wake: (() => void) | null = null

  /** Ends the current sleep, or makes the next one return at once. */
  notify(): void {
    this.pending = true
    this.wake?.()
  }

  /** Resolves true when woken by notify(), false when the time ran out. */
  sleep(ms: number): Promise<boolean> {
    if (this.pending) {
      this.pending = false
      return Promise.resolve(true)
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null
        resolve(false)
      }, ms)
      this.wake = () => {
        clearTimeout(timer)
        this.wake = null
        this.pending = false
        resolve(true)
      }
    })
  }
}
