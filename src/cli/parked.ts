import { userInfo } from 'node:os'
import { type Command, Option } from 'commander'
import { requireDatabaseUrl } from '../config.js'
import { notifyChannel } from '../db/notify.js'
import { opsQueries, type ParkedFilter } from '../db/ops-queries.js'
import { openDatabase } from '../db/pool.js'
import { isRowId, parsePositiveInt } from './arguments.js'
import { confirmAction } from './confirm.js'
import { type CliIo, table } from './io.js'
import { isoOrNull, printJson } from './json-output.js'
import type { CommandRuntime } from './runtime.js'
import { USAGE_HINT, UsageError } from './usage-error.js'

function operatorName(): string {
  try {
    return userInfo().username
  } catch {
    return 'unknown'
  }
}

const byOption = () =>
  new Option('--by <name>', 'who resolves the rows, recorded in resolved_by (default: your OS user)')

/** Reports requested ids that were not changed, and why; returns true when all were changed. */
async function explainUnchanged(
  io: CliIo,
  requested: readonly string[],
  changed: readonly string[],
  statusesOf: (ids: readonly string[]) => Promise<{ id: string; status: string }[]>,
): Promise<boolean> {
  const done = new Set(changed)
  const missing = requested.filter((id) => !done.has(id))
  if (missing.length === 0) return true
  const statuses = new Map((await statusesOf(missing)).map((r) => [r.id, r.status]))
  for (const id of missing) {
    const status = statuses.get(id)
    io.err(
      status === undefined
        ? `row ${id} does not exist: check the id with \`postbox parked list\``
        : `row ${id} is not parked (status ${status}): only parked rows can be retried or skipped`,
    )
  }
  return false
}

function rowIds(values: readonly string[]): string[] {
  const bad = values.find((v) => !isRowId(v))
  if (bad !== undefined) throw new UsageError(`"${bad}" is not an outbox row id: see \`postbox parked list\``)
  return [...new Set(values)]
}

export function register(program: Command, run: CommandRuntime): void {
  const parked = program
    .command('parked')
    .showHelpAfterError(USAGE_HINT)
    .summary('list, retry or skip rows the relay could not publish')
    .description(
      'Rows the relay could not publish (the mapping threw, the schema rejected the record, the message ' +
        'was too large) are parked with their error, and later rows of the same key wait behind them. ' +
        'List them, retry them with the code the relay runs now, or skip them.',
    )

  const session = async () => {
    const connection = await run.connection()
    const { schema } = connection
    return {
      db: openDatabase(requireDatabaseUrl(connection), 'postbox parked', 1),
      q: opsQueries(schema),
      channel: notifyChannel(schema),
    }
  }

  parked
    .command('list')
    .description('List parked rows, oldest first: id, event type, key, attempts, parked at, last error.')
    .option('--topic <topic>', 'only rows of this topic')
    .option('--event-type <type>', 'only rows of this event type')
    .option('--limit <n>', 'show at most n rows', parsePositiveInt, 100)
    .option('--json', 'machine-readable output: { "version", "rows": [...] } with the full error text')
    .action(
      run.action(async (opts: ParkedFilter & { limit: number; json?: boolean }) => {
        const { db, q } = await session()
        try {
          const rows = await q.listParked(db, opts, opts.limit)
          if (rows.length === opts.limit) {
            run.io.err(`showing the first ${opts.limit} parked rows: raise --limit to see more`)
          }
          if (opts.json === true) {
            printJson(run.io, {
              rows: rows.map((r) => ({
                id: r.id,
                eventType: r.event_type,
                topic: r.topic,
                key: r.key,
                attempts: r.attempts,
                parkedAt: isoOrNull(r.parked_at),
                lastError: r.last_error,
              })),
            })
          } else if (rows.length === 0) {
            run.io.out('no parked rows')
          } else {
            run.io.out(
              table(
                ['id', 'event type', 'key', 'attempts', 'parked at', 'last error'],
                rows.map((r) => [
                  r.id,
                  r.event_type,
                  r.key,
                  String(r.attempts),
                  r.parked_at?.toISOString() ?? '-',
                  // The event type is in its own column; the table keeps what follows it.
                  oneLine((r.last_error ?? '').replace(`${r.event_type}: `, ''), 120),
                ]),
              ),
            )
          }
          return 0
        } finally {
          await db.close()
        }
      }),
    )

  parked
    .command('retry')
    .summary('set parked rows back to pending')
    .description(
      'Set parked rows back to pending. The relay maps them again with the code it runs now and ' +
        'publishes them before the later rows of their key; a row that fails again is parked again ' +
        'with attempts increased by one.',
    )
    .argument('[ids...]', 'outbox row ids (see `postbox parked list`)')
    .option('--all', 'retry every parked row (narrow with --topic / --event-type)')
    .option('--topic <topic>', 'with --all: only rows of this topic')
    .option('--event-type <type>', 'with --all: only rows of this event type')
    .addOption(byOption())
    .option('--json', 'machine-readable output: { "version", "retried": [ids] }')
    .action(
      run.action(
        async (ids: string[], opts: ParkedFilter & { all?: boolean; by?: string; json?: boolean }) => {
          if (ids.length > 0 === (opts.all === true)) {
            throw new UsageError('give the row ids to retry, or --all (not both)')
          }
          if (opts.all !== true && (opts.topic !== undefined || opts.eventType !== undefined)) {
            throw new UsageError('--topic and --event-type narrow --all; with ids, give only the ids')
          }
          const requested = rowIds(ids)
          const by = opts.by ?? operatorName()
          const { db, q, channel } = await session()
          try {
            const retried =
              opts.all === true
                ? await q.retryAllParked(db, opts, by)
                : await q.retryParkedById(db, requested, by)
            if (retried.length > 0) await q.notifyRelays(db, channel)
            const complete =
              opts.all === true ||
              (await explainUnchanged(run.io, requested, retried, (m) => q.rowStatuses(db, m)))
            if (opts.json === true) printJson(run.io, { retried })
            else run.io.out(`${retried.length} row(s) set back to pending${idList(retried)}`)
            return complete ? 0 : 1
          } finally {
            await db.close()
          }
        },
      ),
    )

  parked
    .command('skip')
    .summary('give up on parked rows; later rows of their key flow again')
    .description(
      'Give up on parked rows: they are marked skipped and never published, and later rows of their ' +
        'key flow again. Who and why are recorded (resolved_by, last_error). Asks for confirmation.',
    )
    .argument('<ids...>', 'outbox row ids (see `postbox parked list`)')
    .requiredOption(
      '--reason <text>',
      'why the rows are skipped (kept in last_error with the original error)',
    )
    .addOption(byOption())
    .option('-y, --yes', 'do not ask for confirmation (required when stdin is not a terminal)')
    .option('--json', 'machine-readable output: { "version", "skipped": [ids] }')
    .action(
      run.action(
        async (ids: string[], opts: { reason: string; by?: string; yes?: boolean; json?: boolean }) => {
          const requested = rowIds(ids)
          if (opts.reason.trim() === '') throw new UsageError('--reason must say why the rows are skipped')
          const confirmed = await confirmAction(run.io, {
            yes: opts.yes === true,
            action: `skip ${requested.length} parked row(s) so they are never published`,
          })
          if (!confirmed) {
            run.io.err('nothing skipped')
            return 1
          }
          const { db, q, channel } = await session()
          try {
            const skipped = await q.skipParked(db, requested, opts.by ?? operatorName(), opts.reason)
            if (skipped.length > 0) await q.notifyRelays(db, channel)
            const complete = await explainUnchanged(run.io, requested, skipped, (m) => q.rowStatuses(db, m))
            if (opts.json === true) printJson(run.io, { skipped })
            else run.io.out(`${skipped.length} row(s) skipped${idList(skipped)}`)
            return complete ? 0 : 1
          } finally {
            await db.close()
          }
        },
      ),
    )

  parked.addHelpText(
    'after',
    `
Examples:
  postbox parked list
  postbox parked retry 1042 1043
  postbox parked retry --all --event-type order.placed
  postbox parked skip 1042 --reason "order deleted upstream, see INC-311" --yes`,
  )
}

function idList(ids: readonly string[]): string {
  if (ids.length === 0) return ''
  const shown = ids.slice(0, 20).join(', ')
  return `: ${shown}${ids.length > 20 ? `, … (${ids.length - 20} more)` : ''}`
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ')
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat
}
