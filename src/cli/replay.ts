import type { Command } from 'commander'
import { notifyChannel } from '../db/notify.js'
import { opsQueries, type ReplaySelection } from '../db/ops-queries.js'
import { openDatabase } from '../db/pool.js'
import { newEventId } from '../event-id.js'
import { parseInstant, parsePositiveInt, parseRate, parseRowId } from './arguments.js'
import { confirmAction } from './confirm.js'
import { table } from './io.js'
import { createPacer } from './pacer.js'
import { startProgress } from './progress.js'
import { type CommandRuntime, schemaOf } from './runtime.js'
import { databaseUrlOf } from './settings.js'
import { USAGE_HINT, UsageError } from './usage-error.js'

interface ReplayOptions extends ReplaySelection {
  dryRun?: boolean
  rate?: number
  batch: number
  sample: number
  yes?: boolean
  json?: boolean
}

const SELECTORS = ['topic', 'eventType', 'key', 'fromId', 'toId', 'since', 'until'] as const

export function registerReplayCommand(program: Command, run: CommandRuntime): void {
  const instant = parseInstant(() => new Date())
  program
    .command('replay')
    .showHelpAfterError(USAGE_HINT)
    .summary('publish selected outbox rows again with the current mapping and schema')
    .description(
      'Publish outbox rows again, mapped and encoded with the current code and schema. Each selected ' +
        'row gets a new pending copy (same event type, topic, key, payload and headers) with a new event ' +
        'id and a `replay-of` header holding the original event id, so consumers that dedupe on the ' +
        'event id do not drop it. Copies are queued in id order in short transactions, so the relay ' +
        "publishes each key's copies in their original order, after everything already queued; safe " +
        'while relays run. Skipped rows are never replayed; rows written after the replay starts are not ' +
        'selected. Asks for confirmation.',
    )
    .option('--topic <topic>', 'rows of this topic')
    .option('--event-type <type>', 'rows of this event type')
    .option('--key <key>', 'rows of this aggregate key (as stored: a string, or the JSON of an Avro key)')
    .option('--from-id <id>', 'rows with an outbox id of at least this', parseRowId)
    .option('--to-id <id>', 'rows with an outbox id of at most this', parseRowId)
    .option(
      '--since <time>',
      'rows created at or after this: ISO timestamp, or a duration ago (2h, 7d)',
      instant,
    )
    .option('--until <time>', 'rows created before this: ISO timestamp, or a duration ago', instant)
    .option('--dry-run', 'print how many rows match and a sample; change nothing')
    .option('--rate <n>', 'queue at most n rows per second (spares the relay and consumers)', parseRate)
    .option('--batch <n>', 'rows copied per transaction', parsePositiveInt, 500)
    .option('--sample <n>', 'rows shown by --dry-run', parsePositiveInt, 10)
    .option('-y, --yes', 'do not ask for confirmation (required when stdin is not a terminal)')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `
A replayed event lands after newer events of its key that were already queued or published: to rebuild
a compacted topic's current state, prefer \`postbox backfill\`, or replay every row of the keys concerned.

Examples:
  postbox replay --topic orders.v1 --since 2h --dry-run
  postbox replay --event-type order.placed --from-id 5000 --to-id 9000 --rate 200 --yes
  postbox replay --key 42 --yes`,
    )
    .action(async (opts: ReplayOptions) => {
      if (!SELECTORS.some((name) => opts[name] !== undefined)) {
        throw new UsageError(
          'choose the rows to replay with at least one of --topic, --event-type, --key, --from-id, --to-id, --since, --until',
        )
      }
      const selection: ReplaySelection = Object.fromEntries(
        SELECTORS.filter((name) => opts[name] !== undefined).map((name) => [name, opts[name]]),
      )
      const settings = await run.settings({ requireEvents: false })
      const schema = schemaOf(settings)
      const db = openDatabase(databaseUrlOf(settings), 'postbox replay', 1)
      const q = opsQueries(schema)
      try {
        // Fixed up front: copies get higher ids and may match the selection themselves.
        const newest = await q.maxOutboxId(db)
        const upTo = opts.toId !== undefined && BigInt(opts.toId) < BigInt(newest) ? opts.toId : newest
        const matched = await q.countReplayRows(db, selection, upTo)
        if (opts.dryRun === true) {
          const sample = await q.sampleReplayRows(db, selection, upTo, opts.sample)
          if (opts.json === true) {
            run.io.out(JSON.stringify({ dryRun: true, matched, upToId: upTo, sample }, null, 2))
          } else {
            run.io.out(
              `dry run: ${matched} row(s) would be replayed (outbox ids up to ${upTo}); nothing changed`,
            )
            if (sample.length > 0) {
              run.io.out(
                table(
                  ['id', 'event type', 'topic', 'key', 'status', 'created at', 'value'],
                  sample.map((r) => [
                    r.id,
                    r.event_type,
                    r.topic,
                    r.key,
                    r.status,
                    r.created_at.toISOString(),
                    r.tombstone ? 'tombstone' : 'upsert',
                  ]),
                ),
              )
            }
          }
          run.exit(0)
          return
        }
        if (matched === 0) {
          run.io.out(
            opts.json === true ? JSON.stringify({ matched, queued: 0 }) : 'no rows match: nothing replayed',
          )
          run.exit(0)
          return
        }
        if (!(await confirmAction(run.io, { yes: opts.yes === true, action: `replay ${matched} row(s)` }))) {
          run.io.err('nothing replayed')
          run.exit(1)
          return
        }
        const pacer = createPacer(opts.rate)
        const progress = startProgress(run.io, 'replay', matched)
        let queued = 0
        let after = '0'
        try {
          for (;;) {
            const eventIds = Array.from({ length: pacer.batchSize(opts.batch) }, () => newEventId())
            const batch = await q.copyReplayBatch(db, selection, after, upTo, eventIds)
            if (batch.lastId === null) break
            after = batch.lastId
            queued += batch.copied
            progress.advance(batch.copied)
            await q.notifyRelays(db, notifyChannel(schema))
            await pacer.done(batch.copied)
          }
        } catch (error) {
          if (queued > 0) {
            run.io.err(
              `replay stopped after queueing ${queued} row(s) (source ids up to ${after}); ` +
                `to go on, rerun with --from-id ${BigInt(after) + 1n}`,
            )
          }
          throw error
        } finally {
          progress.stop()
        }
        run.io.out(
          opts.json === true
            ? JSON.stringify({ matched, queued, upToId: upTo })
            : `queued ${queued} row(s) for publishing again (copies carry a replay-of header)`,
        )
        run.exit(0)
      } finally {
        await db.close()
      }
    })
}
