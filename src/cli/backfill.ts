import type { Command } from 'commander'
import { createCatalog } from '../catalog/catalog.js'
import type { AnyEventDefinition } from '../catalog/define-event.js'
import { requireDatabaseUrl, resolveConnection } from '../config.js'
import { PostboxError } from '../errors.js'
import {
  BACKFILL_BATCH_SIZE,
  BackfillStoppedError,
  backfill,
  backfillSourceOf,
  previewBackfill,
} from '../ops/backfill.js'
import { parsePositiveInt, parseRate } from './arguments.js'
import { runBatchedOperation } from './batched-operation.js'
import { table } from './io.js'
import { printJson } from './json-output.js'
import type { CommandRuntime } from './runtime.js'
import { USAGE_HINT, UsageError } from './usage-error.js'

interface BackfillOptions {
  eventType: string
  where?: string
  after?: string
  batch: number
  rate?: number
  dryRun?: boolean
  sample: number
  yes?: boolean
  json?: boolean
}

export function register(program: Command, run: CommandRuntime): void {
  program
    .command('backfill')
    .showHelpAfterError(USAGE_HINT)
    .summary('publish the current state of existing rows (initial load, topic rebuild)')
    .description(
      'Publish the current state of existing rows that were never enqueued (initial load, topic ' +
        "rebuild). Reads the table named by the event's `backfill: { table, keyColumn }` in key order, a " +
        'batch at a time; each batch is one short transaction that locks its rows FOR SHARE and enqueues ' +
        "them through the event's normal mapping. Race-safe with live writes that change the row before " +
        'enqueueing its event in the same transaction (write, then enqueue): the last event per key in ' +
        'Kafka is the row as it is in Postgres. Asks for confirmation.',
    )
    .requiredOption(
      '--event-type <type>',
      'the event to publish (its defineEvent() needs a `backfill` source)',
    )
    .option(
      '--where <sql>',
      'SQL condition on the source table, e.g. "status <> \'draft\'". Trusted operator input: it goes ' +
        'into the query as written and runs with your database role, as in psql. Each query is one ' +
        'parameterised statement (no `;` chains) and --dry-run reads in a READ ONLY transaction.',
    )
    .option('--after <key>', 'start after this key value (resume an interrupted backfill)')
    .option('--batch <n>', 'rows locked and enqueued per transaction', parsePositiveInt, BACKFILL_BATCH_SIZE)
    .option('--rate <n>', 'enqueue at most n rows per second', parseRate)
    .option('--dry-run', 'print how many rows match and a sample as they would be published; change nothing')
    .option('--sample <n>', 'rows shown by --dry-run', parsePositiveInt, 5)
    .option('-y, --yes', 'do not ask for confirmation (required when stdin is not a terminal)')
    .option(
      '--json',
      'machine-readable output: { "version", "dryRun", "matched", "enqueued", "batches", "stopped", "sample" }',
    )
    .addHelpText(
      'after',
      `
Example event definition:
  defineEvent({ type: 'order.changed', topic: 'orders.v1', ..., backfill: { table: 'orders', keyColumn: 'id' } })

Examples:
  postbox backfill --event-type order.changed --dry-run
  postbox backfill --event-type order.changed --where "created_at > now() - interval '30 days'" --rate 1000 --yes
  postbox backfill --event-type order.changed --after 184000 --yes`,
    )
    .action(
      run.action(async (opts: BackfillOptions) => {
        const settings = await run.settings({ requireEvents: true })
        const catalog = createCatalog(settings.events as readonly AnyEventDefinition[])
        if (!catalog.has(opts.eventType)) {
          throw new UsageError(
            `event type "${opts.eventType}" is not in the config file's events (known: ${catalog.events.map((e) => e.type).join(', ')})`,
          )
        }
        const event = catalog.get(opts.eventType)
        const source = backfillSourceOf(event)
        const connection = resolveConnection(settings)
        const selection = {
          databaseUrl: requireDatabaseUrl(connection),
          event,
          where: opts.where,
          after: opts.after,
        }
        const sourceName = `${source.schema ?? 'public'}.${source.table}`
        let resumeAfter = opts.after
        const outcomeDocument = (
          matched: number,
          outcome: { enqueued: number; batches: number; stopped: boolean },
        ) => ({
          dryRun: false,
          matched,
          enqueued: outcome.enqueued,
          batches: outcome.batches,
          stopped: outcome.stopped,
          sample: [] as unknown[],
        })
        return runBatchedOperation(run, {
          name: 'backfill',
          dryRun: opts.dryRun === true,
          yes: opts.yes === true,
          declined: 'nothing published',
          count: async () => (await previewBackfill(selection, 0)).matched,
          showDryRun: async (matched) => {
            const { sample } = await previewBackfill(selection, opts.sample)
            if (opts.json === true) {
              printJson(run.io, {
                ...outcomeDocument(matched, { enqueued: 0, batches: 0, stopped: false }),
                dryRun: true,
                sample: sample.map((s) => ({
                  sourceKey: s.sourceKey,
                  key: 'key' in s ? s.key : null,
                  value: 'value' in s ? s.value : null,
                  error: 'error' in s ? s.error : null,
                })),
              })
            } else {
              run.io.out(
                `dry run: ${matched} row(s) of ${sourceName} would be published as ${event.type} to ${event.topic}; nothing changed`,
              )
              if (sample.length > 0) {
                run.io.out(
                  table(
                    [source.keyColumn, 'key', 'value'],
                    sample.map((s) => [
                      s.sourceKey,
                      'key' in s ? s.key : '-',
                      'error' in s ? `cannot be published: ${s.error}` : JSON.stringify(s.value),
                    ]),
                  ),
                )
              }
            }
            return sample.some((s) => 'error' in s) ? 1 : 0
          },
          showNothingToDo: () => {
            if (opts.json === true)
              printJson(run.io, outcomeDocument(0, { enqueued: 0, batches: 0, stopped: false }))
            else run.io.out(`no rows in ${sourceName} match: nothing to do`)
          },
          action: (matched) =>
            `publish ${matched} row(s) of ${sourceName} as ${event.type} to ${event.topic}`,
          run: async (signal, advance) => {
            try {
              return await backfill({
                ...selection,
                schema: connection.schema,
                batchSize: opts.batch,
                rowsPerSecond: opts.rate,
                signal,
                onBatch: ({ rows, lastKey }) => {
                  resumeAfter = lastKey
                  advance(rows)
                },
              })
            } catch (error) {
              if (!(error instanceof BackfillStoppedError)) throw error
              throw new PostboxError(
                error.code,
                `backfill of ${event.type} stopped after ${error.enqueued} row(s)` +
                  (error.failedKey === undefined ? '' : ` at ${source.keyColumn}=${error.failedKey}`) +
                  `: fix the cause, then rerun ${error.resumeAfter === undefined ? 'the same command' : `with --after ${error.resumeAfter}`}`,
                { cause: error.cause, retriable: error.retriable },
              )
            }
          },
          report: (matched, outcome) => {
            if (opts.json === true) printJson(run.io, outcomeDocument(matched, outcome))
            else
              run.io.out(
                `enqueued ${outcome.enqueued} row(s) of ${sourceName} as ${event.type} in ${outcome.batches} batch(es); the relay publishes them`,
              )
          },
          resumeHint: () => (resumeAfter === undefined ? 'the same command' : `--after ${resumeAfter}`),
        })
      }),
    )
}
