import type { SqlExecutor } from '../db/executor.js'
import type { Logger } from '../observe/logger.js'
import type { Clock, RelayQueries } from './ports.js'

/**
 * What the relay is waiting on, when it is: an open transaction holding back settled rows. It names
 * the transaction but never carries its SQL text (another session's, possibly with secrets): the
 * reason reaches /readyz and the logs. `postbox status --show-query` shows the text on request.
 */
export interface StallReason {
  pendingRows: number
  oldestSeconds: number
  transaction: {
    pid: number
    state: string | null
    ageSeconds: number
    queryStart: Date | null
  } | null
}

/** Notices committed rows that wait behind an open transaction, at most once a second. */
export class StallWatch {
  current: StallReason | null = null
  private lastCheck = Number.NEGATIVE_INFINITY

  constructor(
    private readonly db: SqlExecutor,
    private readonly queries: Pick<RelayQueries, 'outbox' | 'oldestOpenTransaction'>,
    private readonly warnAfterMs: number,
    private readonly logger: Logger,
    private readonly clock: Clock,
  ) {}

  clear(): void {
    this.current = null
  }

  /** Called when a claim found nothing to publish. */
  async check(shards: readonly number[]): Promise<void> {
    const now = this.clock.now()
    if (now - this.lastCheck < 1000) return
    this.lastCheck = now
    const unsettled = await this.queries.outbox.unsettledRows(this.db, shards)
    if (unsettled.rows === 0 || (unsettled.oldestSeconds ?? 0) * 1000 < this.warnAfterMs) {
      this.current = null
      return
    }
    const tx = await this.queries.oldestOpenTransaction(this.db, unsettled.holderPid)
    const wasStalled = this.current !== null
    this.current = {
      pendingRows: unsettled.rows,
      oldestSeconds: unsettled.oldestSeconds ?? 0,
      transaction:
        tx === null
          ? null
          : {
              pid: tx.pid,
              state: tx.state,
              ageSeconds: tx.age_seconds,
              queryStart: tx.query_start,
            },
    }
    if (!wasStalled) {
      this.logger.warn(
        { ...this.current },
        'committed rows wait behind an open transaction that holds the xid horizon; end or commit it',
      )
    }
  }

  /** The stall as one line for /readyz, or null. */
  describe(): string | null {
    const stall = this.current
    if (stall === null) return null
    return `waiting on an open transaction (pid ${stall.transaction?.pid ?? '?'}, ${Math.round(stall.transaction?.ageSeconds ?? 0)} s old) before ${stall.pendingRows} row(s)`
  }
}
