import cron from 'node-cron'
import { withAdvisoryLock } from '../db/advisory-lock.js'
import { opsQueries } from '../db/ops-queries.js'
import { withClient } from '../db/pool.js'
import { describeError } from '../errors.js'
import type { Logger } from '../observe/logger.js'

export interface RetentionPlan {
  databaseUrl: string
  schema: string
  /** Sent rows older than this many milliseconds are deleted. */
  sentOlderThanMs: number
  /** node-cron expression. */
  schedule: string
  batchSize: number
}

export interface ScheduledJob {
  /** Stops the schedule and waits for a run in progress, so none of its connections outlives it. */
  stop(): Promise<void>
}

/**
 * Deletes old sent rows on a schedule, in small batches. Every relay schedules it; a
 * session advisory lock lets one relay at a time run it, the others skip that tick.
 */
export function scheduleRetention(plan: RetentionPlan, logger: Logger): ScheduledJob {
  const purge = opsQueries(plan.schema)
  const run = async () => {
    await withClient(plan.databaseUrl, (db) =>
      withAdvisoryLock(
        db,
        `postbox.retention.${plan.schema}`,
        async () => {
          const before = new Date(Date.now() - plan.sentOlderThanMs)
          const { deleted } = await purge.purgeAll(db, ['sent'], before, plan.batchSize)
          if (deleted > 0)
            logger.info({ deleted, before: before.toISOString() }, 'retention: purged sent rows')
        },
        { wait: false },
      ),
    )
  }
  let running: Promise<void> | null = null
  const task = cron.schedule(
    plan.schedule,
    () => {
      running = run()
        .catch((error) =>
          logger.warn({ err: describeError(error) }, 'retention run failed; next tick retries'),
        )
        .finally(() => {
          running = null
        })
      return running
    },
    { noOverlap: true, name: `postbox-retention-${plan.schema}` },
  )
  return {
    stop: async () => {
      await task.stop()
      await running
    },
  }
}

export function isValidSchedule(expression: string): boolean {
  return cron.validate(expression)
}
