import type { Command } from 'commander'
import { opsQueries, type PurgeableStatus } from '../db/ops-queries.js'
import { openDatabase } from '../db/pool.js'
import { parseDuration, parsePositiveInt } from './arguments.js'
import { confirmAction } from './confirm.js'
import { startProgress } from './progress.js'
import { type CommandRuntime, schemaOf } from './runtime.js'
import { databaseUrlOf } from './settings.js'
import { USAGE_HINT, UsageError } from './usage-error.js'

interface PurgeOptions {
  sent?: boolean
  parked?: boolean
  skipped?: boolean
  olderThan?: number
  dryRun?: boolean
  batch: number
  yes?: boolean
  json?: boolean
}

export function registerPurgeCommand(program: Command, run: CommandRuntime): void {
  program
    .command('purge')
    .showHelpAfterError(USAGE_HINT)
    .summary('delete sent, parked or skipped outbox rows in small batches')
    .description(
      'Delete outbox rows that are done with: sent, parked and/or skipped rows, optionally only those ' +
        'older than a duration (by sent_at for sent rows, parked_at for parked and skipped ones). Deletes ' +
        'in small batches, each its own short statement, so it never locks the table for long and is safe ' +
        'while relays run. Pending rows are never purged. Deleting a parked row frees the later rows of ' +
        'its key like `postbox parked skip`, but leaves no record. Asks for confirmation.',
    )
    .option('--sent', 'purge rows already published')
    .option('--parked', 'purge parked rows (their keys flow again)')
    .option('--skipped', 'purge rows skipped with `postbox parked skip`')
    .option('--older-than <duration>', 'only rows older than this: 90s, 15m, 2h, 7d, 1w', parseDuration)
    .option('--dry-run', 'print how many rows would go; change nothing')
    .option('--batch <n>', 'rows deleted per statement', parsePositiveInt, 1000)
    .option('-y, --yes', 'do not ask for confirmation (required when stdin is not a terminal)')
    .option('--json', 'machine-readable output: { "matched", "deleted", "batches", "dryRun" }')
    .addHelpText(
      'after',
      `
Examples:
  postbox purge --sent --older-than 7d --dry-run
  postbox purge --sent --older-than 7d --yes
  postbox purge --parked --skipped --older-than 30d --yes`,
    )
    .action(async (opts: PurgeOptions) => {
      const statuses: PurgeableStatus[] = (['sent', 'parked', 'skipped'] as const).filter(
        (s) => opts[s] === true,
      )
      if (statuses.length === 0)
        throw new UsageError('choose what to purge: --sent, --parked and/or --skipped')
      const before = opts.olderThan === undefined ? null : new Date(Date.now() - opts.olderThan)
      const what = `${statuses.join('/')} rows${before === null ? '' : ` older than ${before.toISOString()}`}`
      const settings = await run.settings({ requireEvents: false })
      const db = openDatabase(databaseUrlOf(settings), 'postbox purge', 1)
      const q = opsQueries(schemaOf(settings))
      try {
        const matched = await q.countPurgeable(db, statuses, before)
        if (opts.dryRun === true || matched === 0) {
          run.io.out(
            opts.json === true
              ? JSON.stringify({ matched, deleted: 0, batches: 0, dryRun: opts.dryRun === true })
              : `${opts.dryRun === true ? 'dry run: ' : ''}${matched} ${what} ${opts.dryRun === true ? 'would be deleted; nothing changed' : 'to delete: nothing to do'}`,
          )
          run.exit(0)
          return
        }
        if (!(await confirmAction(run.io, { yes: opts.yes === true, action: `delete ${matched} ${what}` }))) {
          run.io.err('nothing deleted')
          run.exit(1)
          return
        }
        const progress = startProgress(run.io, 'purge', matched)
        let result: { deleted: number; batches: number }
        try {
          result = await q.purgeAll(db, statuses, before, opts.batch, (n) => progress.advance(n))
        } finally {
          progress.stop()
        }
        const { deleted, batches } = result
        run.io.out(
          opts.json === true
            ? JSON.stringify({ matched, deleted, batches, dryRun: false })
            : `deleted ${deleted} ${what} in ${batches} batch(es)`,
        )
        run.exit(0)
      } finally {
        await db.close()
      }
    })
}
