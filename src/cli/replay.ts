import type { Command } from 'commander'
import { requireDatabaseUrl } from '../config.js'
import { notifyChannel } from '../db/notify.js'
import { opsQueries, type ReplaySelection } from '../db/ops-queries.js'
import { openDatabase } from '../db/pool.js'
import { newEventId } from '../event-id.js'
import { runBatches } from '../ops/batches.js'
import { parseInstant, parsePositiveInt, parseRate, parseRowId } from './arguments.js'
import { runBatchedOperation } from './batched-operation.js'
import { table } from './io.js'
import { printJson } from './json-output.js'
import type { CommandRuntime } from './runtime.js'
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

export function register(program: Command, run: CommandRuntime): void {
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
    .option(
      '--json',
      'machine-readable output: { "version", "dryRun", "matched", "queued", "upToId", "stopped", "sample" }',
    )
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
    .action(
      run.action(async (opts: ReplayOptions) => {
        if (!SELECTORS.some((name) => opts[name] !== undefined)) {
          throw new UsageError(
            'choose the rows to replay with at least one of --topic, --event-type, --key, --from-id, --to-id, --since, --until',
          )
        }
        const selection: ReplaySelection = Object.fromEntries(
          SELECTORS.filter((name) => opts[name] !== undefined).map((name) => [name, opts[name]]),
        )
        const connection = await run.connection()
        const { schema } = connection
        const db = openDatabase(requireDatabaseUrl(connection), 'postbox replay', 1)
        const q = opsQueries(schema)
        try {
          // Fixed up front: copies get higher ids and may match the selection themselves.
          const newest = await q.maxOutboxId(db)
          const upTo = opts.toId !== undefined && BigInt(opts.toId) < BigInt(newest) ? opts.toId : newest
          let after = '0'
          const outcomeDocument = (matched: number, queued: number, stopped: boolean) => ({
            dryRun: false,
            matched,
            queued,
            upToId: upTo,
            stopped,
            sample: [],
          })
          return await runBatchedOperation(run, {
            name: 'replay',
            dryRun: opts.dryRun === true,
            yes: opts.yes === true,
            declined: 'nothing replayed',
            count: () => q.countReplayRows(db, selection, upTo),
            showDryRun: async (matched) => {
              const sample = await q.sampleReplayRows(db, selection, upTo, opts.sample)
              if (opts.json === true) {
                printJson(run.io, {
                  dryRun: true,
                  matched,
                  queued: 0,
                  upToId: upTo,
                  stopped: false,
                  sample: sample.map((r) => ({
                    id: r.id,
                    eventType: r.event_type,
                    topic: r.topic,
                    key: r.key,
                    status: r.status,
                    createdAt: r.created_at.toISOString(),
                    tombstone: r.tombstone,
                  })),
                })
                return 0
              }
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
              return 0
            },
            showNothingToDo: () => {
              if (opts.json === true) printJson(run.io, outcomeDocument(0, 0, false))
              else run.io.out('no rows match: nothing replayed')
            },
            action: (matched) => `replay ${matched} row(s)`,
            run: async (signal, advance) => {
              try {
                return await runBatches(
                  { batchSize: opts.batch, rowsPerSecond: opts.rate, signal },
                  async (limit) => {
                    const eventIds = Array.from({ length: limit }, () => newEventId())
                    const batch = await q.copyReplayBatch(db, selection, after, upTo, eventIds)
                    if (batch.lastId === null) return { rows: 0, done: true }
                    after = batch.lastId
                    await q.notifyRelays(db, notifyChannel(schema))
                    return { rows: batch.copied, done: false }
                  },
                  advance,
                )
              } catch (error) {
                if (after !== '0') {
                  run.io.err(
                    `replay stopped after queueing rows with source ids up to ${after}; ` +
                      `to go on, rerun with --from-id ${BigInt(after) + 1n}`,
                  )
                }
                throw error
              }
            },
            report: (matched, outcome) => {
              if (opts.json === true)
                printJson(run.io, outcomeDocument(matched, outcome.rows, outcome.stopped))
              else
                run.io.out(
                  `queued ${outcome.rows} row(s) for publishing again (copies carry a replay-of header)`,
                )
            },
            resumeHint: () => `--from-id ${BigInt(after) + 1n}`,
          })
        } finally {
          await db.close()
        }
      }),
    )
}
