import cron from 'node-cron'
import { executorFor } from '../db/executor.js'
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
  stop(): void
}

/**
 * Deletes old sent rows on a schedule, in small batches. Every relay schedules it; a
 * session advisory lock lets one relay at a time run it, the others skip that tick.
 */
export function scheduleRetention(plan: RetentionPlan, logger: Logger): ScheduledJob {
  const purge = opsQueries(plan.schema)
  const run = async () => {
    await withClient(plan.databaseUrl, async (client) => {
      const lockKey = `postbox.retention.${plan.schema}`
      const { rows } = await client.query('select pg_try_advisory_lock(hashtext($1)) as locked', [lockKey])
      if (!(rows[0] as { locked: boolean }).locked) return
      try {
        const db = executorFor(client)
        const before = new Date(Date.now() - plan.sentOlderThanMs)
        const { deleted } = await purge.purgeAll(db, ['sent'], before, plan.batchSize)
        if (deleted > 0) logger.info({ deleted, before: before.toISOString() }, 'retention: purged sent rows')
      } finally {
        await client.query('select pg_advisory_unlock(hashtext($1))', [lockKey])
      }
    })
  }
  const task = cron.schedule(
    plan.schedule,
    () =>
      run().catch((error) =>
        logger.warn({ err: describeError(error) }, 'retention run failed; next tick retries'),
      ),
    { noOverlap: true, name: `postbox-retention-${plan.schema}` },
  )
  return { stop: () => void task.stop() }
}

export function isValidSchedule(expression: string): boolean {
  return cron.validate(expression)
}
