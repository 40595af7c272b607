import type { Command } from 'commander'
import { createCatalog } from '../catalog/catalog.js'
import type { AnyEventDefinition } from '../catalog/define-event.js'
import { keyOf, mapToExternal, storedKey, toStoredSnapshot } from '../catalog/map-event.js'
import type { BackfillSource } from '../catalog/types.js'
import { backfillQueries } from '../db/backfill-queries.js'
import { openSession } from '../db/session.js'
import { createOutbox } from '../enqueue.js'
import { ConfigError, describeError, PostboxError } from '../errors.js'
import { parsePositiveInt, parseRate } from './arguments.js'
import { confirmAction } from './confirm.js'
import { table } from './io.js'
import { createPacer } from './pacer.js'
import { startProgress } from './progress.js'
import { type CommandRuntime, schemaOf } from './runtime.js'
import { databaseUrlOf } from './settings.js'
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

/** A key column value as the operator would type it back into --after. */
function keyText(value: unknown): string {
  return value instanceof Date ? value.toISOString() : String(value)
}

/** The mapped form of one source row, or why it cannot be published. */
function tryMap(
  event: AnyEventDefinition,
  row: unknown,
): { key: string; value: unknown } | { error: string } {
  try {
    const snapshot = toStoredSnapshot(event, row)
    return { key: storedKey(keyOf(event, snapshot)), value: mapToExternal(event, snapshot) }
  } catch (error) {
    return { error: describeError(error) }
  }
}

export function registerBackfillCommand(program: Command, run: CommandRuntime): void {
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
        'into the query as written and runs with your database role, as in psql.',
    )
    .option('--after <key>', 'start after this key value (resume an interrupted backfill)')
    .option('--batch <n>', 'rows locked and enqueued per transaction', parsePositiveInt, 500)
    .option('--rate <n>', 'enqueue at most n rows per second', parseRate)
    .option('--dry-run', 'print how many rows match and a sample as they would be published; change nothing')
    .option('--sample <n>', 'rows shown by --dry-run', parsePositiveInt, 5)
    .option('-y, --yes', 'do not ask for confirmation (required when stdin is not a terminal)')
    .option('--json', 'machine-readable output')
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
    .action(async (opts: BackfillOptions) => {
      const settings = await run.settings({ requireEvents: true })
      const catalog = createCatalog(settings.events as readonly AnyEventDefinition[])
      if (!catalog.has(opts.eventType)) {
        throw new UsageError(
          `event type "${opts.eventType}" is not in the config file's events (known: ${catalog.events.map((e) => e.type).join(', ')})`,
        )
      }
      const event = catalog.get(opts.eventType)
      const source: BackfillSource | undefined = event.backfill
      if (source === undefined) {
        throw new ConfigError(
          `event ${event.type} has no backfill source: add backfill: { table, keyColumn } to its defineEvent()`,
        )
      }
      const sourceName = `${source.schema ?? 'public'}.${source.table}`
      const bq = backfillQueries(source, opts.where)
      const session = await openSession(databaseUrlOf(settings), 'postbox backfill')
      try {
        const matched = await bq.countSourceRows(session, opts.after)
        if (opts.dryRun === true) {
          const sample = (await bq.sampleSourceRows(session, opts.after, opts.sample)).map((row) => ({
            sourceKey: keyText(row[source.keyColumn]),
            ...tryMap(event, row),
          }))
          const failures = sample.filter((s) => 'error' in s).length
          if (opts.json === true) {
            run.io.out(JSON.stringify({ dryRun: true, matched, sample }, null, 2))
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
          run.exit(failures > 0 ? 1 : 0)
          return
        }
        if (matched === 0) {
          run.io.out(
            opts.json === true
              ? JSON.stringify({ matched, enqueued: 0 })
              : `no rows in ${sourceName} match: nothing to do`,
          )
          run.exit(0)
          return
        }
        const confirmed = await confirmAction(run.io, {
          yes: opts.yes === true,
          action: `publish ${matched} row(s) of ${sourceName} as ${event.type} to ${event.topic}`,
        })
        if (!confirmed) {
          run.io.err('nothing published')
          run.exit(1)
          return
        }
        const outbox = createOutbox({ events: settings.events, schema: schemaOf(settings) })
        const pacer = createPacer(opts.rate)
        const progress = startProgress(run.io, 'backfill', matched)
        let after: unknown = opts.after
        let enqueued = 0
        let batches = 0
        try {
          for (;;) {
            const rows = await session.transaction(async (client) => {
              const locked = await bq.lockNextSourceBatch(session, after, pacer.batchSize(opts.batch))
              if (locked.length > 0) await outbox.enqueueMany(client, event, locked)
              return locked
            })
            if (rows.length === 0) break
            const last = rows[rows.length - 1]?.[source.keyColumn]
            if (last === null || last === undefined) {
              throw new ConfigError(
                `${sourceName}.${source.keyColumn} is null in a row: backfill pages by a unique, not-null column; set backfill.keyColumn to one`,
              )
            }
            after = last
            enqueued += rows.length
            batches++
            progress.advance(rows.length)
            await pacer.done(rows.length)
          }
        } catch (error) {
          // Name the row that stopped it and where to resume: the failed batch rolled back.
          const next = await bq.sampleSourceRows(session, after, opts.batch).catch(() => [])
          const culprit = next.find((row) => 'error' in tryMap(event, row))
          throw new PostboxError(
            'POSTBOX_BACKFILL_STOPPED',
            `backfill of ${event.type} stopped after ${enqueued} row(s)` +
              (culprit === undefined ? '' : ` at ${source.keyColumn}=${keyText(culprit[source.keyColumn])}`) +
              `: fix the cause, then rerun ${after === undefined ? 'the same command' : `with --after ${keyText(after)}`}`,
            { cause: error, retriable: error instanceof PostboxError && error.retriable },
          )
        } finally {
          progress.stop()
        }
        run.io.out(
          opts.json === true
            ? JSON.stringify({ matched, enqueued, batches })
            : `enqueued ${enqueued} row(s) of ${sourceName} as ${event.type} in ${batches} batch(es); the relay publishes them`,
        )
        run.exit(0)
      } finally {
        await session.close()
      }
    })
}
