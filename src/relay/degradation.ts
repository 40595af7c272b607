import { describeError } from '../errors.js'
import type { Logger } from '../observe/logger.js'
import type { Clock } from './ports.js'

/**
 * Why the relay is not publishing, if it is not. A dependency that stays down logs once when the
 * reason appears or changes and once when it recovers, not once per retry.
 */
export class Degradation {
  private current: string | null = 'starting'
  private since: number | null = null
  private attempts = 0

  constructor(
    private readonly logger: Logger,
    private readonly clock: Clock,
  ) {}

  /** The reason shown by /readyz, or null while publishing. */
  get reason(): string | null {
    return this.current
  }

  failed(what: string, error: unknown, details: { retriable: boolean; retryInMs: number }): void {
    const reason = `${what}: ${describeError(error)}`
    this.attempts++
    this.since ??= this.clock.now()
    const fields = { err: describeError(error), retryInMs: details.retryInMs, attempt: this.attempts }
    if (reason === this.current) {
      this.logger.debug(fields, `${what} still failing`)
      return
    }
    this.current = reason
    if (details.retriable) this.logger.warn(fields, `${what} failed; retrying with backoff`)
    else this.logger.error(fields, `${what} failed unexpectedly; retrying with backoff`)
  }

  recovered(): void {
    if (this.since !== null) {
      const downSeconds = (this.clock.now() - this.since) / 1000
      this.logger.info({ downSeconds, attempts: this.attempts }, 'recovered; publishing again')
    }
    this.current = null
    this.since = null
    this.attempts = 0
  }
}
