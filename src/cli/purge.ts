import type { Command } from 'commander'
import { requireDatabaseUrl } from '../config.js'
import { opsQueries, type PurgeableStatus } from '../db/ops-queries.js'
import { openDatabase } from '../db/pool.js'
import { runBatches } from '../ops/batches.js'
import { parseDuration, parsePositiveInt } from './arguments.js'
import { runBatchedOperation } from './batched-operation.js'
import { printJson } from './json-output.js'
import type { CommandRuntime } from './runtime.js'
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

export function register(program: Command, run: CommandRuntime): void {
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
    .option(
      '--json',
      'machine-readable output: { "version", "dryRun", "matched", "deleted", "batches", "stopped" }',
    )
    .addHelpText(
      'after',
      `
Examples:
  postbox purge --sent --older-than 7d --dry-run
  postbox purge --sent --older-than 7d --yes
  postbox purge --parked --skipped --older-than 30d --yes`,
    )
    .action(
      run.action(async (opts: PurgeOptions) => {
        const statuses: PurgeableStatus[] = (['sent', 'parked', 'skipped'] as const).filter(
          (s) => opts[s] === true,
        )
        if (statuses.length === 0)
          throw new UsageError('choose what to purge: --sent, --parked and/or --skipped')
        const before = opts.olderThan === undefined ? null : new Date(Date.now() - opts.olderThan)
        const what = `${statuses.join('/')} rows${before === null ? '' : ` older than ${before.toISOString()}`}`
        const connection = await run.connection()
        const db = openDatabase(requireDatabaseUrl(connection), 'postbox purge', 1)
        const q = opsQueries(connection.schema)
        const document = (
          dryRun: boolean,
          matched: number,
          done = { rows: 0, batches: 0, stopped: false },
        ) => ({ dryRun, matched, deleted: done.rows, batches: done.batches, stopped: done.stopped })
        const summary = (matched: number, dryRun: boolean) =>
          `${dryRun ? 'dry run: ' : ''}${matched} ${what} ${dryRun ? 'would be deleted; nothing changed' : 'to delete: nothing to do'}`
        try {
          return await runBatchedOperation(run, {
            name: 'purge',
            dryRun: opts.dryRun === true,
            yes: opts.yes === true,
            declined: 'nothing deleted',
            count: () => q.countPurgeable(db, statuses, before),
            showDryRun: async (matched) => {
              if (opts.json === true) printJson(run.io, document(true, matched))
              else run.io.out(summary(matched, true))
              return 0
            },
            showNothingToDo: () => {
              if (opts.json === true) printJson(run.io, document(false, 0))
              else run.io.out(summary(0, false))
            },
            action: (matched) => `delete ${matched} ${what}`,
            run: (signal, advance) =>
              runBatches(
                { batchSize: opts.batch, signal },
                async (limit) => {
                  const rows = await q.purgeBatch(db, statuses, before, limit)
                  return { rows, done: rows < limit }
                },
                advance,
              ),
            report: (matched, { rows, batches, stopped }) => {
              if (opts.json === true) printJson(run.io, document(false, matched, { rows, batches, stopped }))
              else run.io.out(`deleted ${rows} ${what} in ${batches} batch(es)`)
            },
            resumeHint: () => 'the same command (it deletes what is left)',
          })
        } finally {
          await db.close()
        }
      }),
    )
}
