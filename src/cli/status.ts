import type { Command } from 'commander'
import { requireDatabaseUrl } from '../config.js'
import { oldestOpenTransaction } from '../db/lease-queries.js'
import { migrationState } from '../db/migrate.js'
import { openDatabase } from '../db/pool.js'
import { statusQueries } from '../db/status-queries.js'
import { parseSeconds } from './arguments.js'
import { type CliIo, formatSeconds, table } from './io.js'
import { isoOrNull, printJson } from './json-output.js'
import type { CommandRuntime, ShutdownSignal } from './runtime.js'

interface StatusOptions {
  json: boolean
  /** Show the blocking transaction's query text (it may hold another session's secrets). */
  showQuery: boolean
  stallSeconds: number
  /** Repeat every `intervalMs` until a shutdown signal. */
  watch: boolean
  intervalMs: number
  onShutdownSignal(handler: (signal: ShutdownSignal) => void): void
}

export function register(program: Command, run: CommandRuntime): void {
  program
    .command('status')
    .description(
      'backlog and oldest pending age per topic, parked rows, relays and their shards, and stall reasons',
    )
    .option('--json', 'machine-readable output: one JSON document per line (see the README, "JSON output")')
    .option(
      '--stall-seconds <n>',
      'report rows waiting on an open transaction for at least this long',
      parseSeconds({ min: 0 }),
      10,
    )
    .option(
      '--show-query',
      "show the query text of the transaction rows wait on (off by default: it may hold another session's secrets)",
    )
    .option('--watch', 'repeat the report until Ctrl-C (SIGINT/SIGTERM); with --json, one document per line')
    .option('--interval <seconds>', 'seconds between reports with --watch', parseSeconds({ min: 0.1 }), 2)
    .action(
      run.action(
        async (opts: {
          json?: boolean
          showQuery?: boolean
          stallSeconds: number
          watch?: boolean
          interval: number
        }) => {
          const connection = await run.connection()
          return statusCommand(run.io, requireDatabaseUrl(connection), connection.schema, {
            json: opts.json === true,
            showQuery: opts.showQuery === true,
            stallSeconds: opts.stallSeconds,
            watch: opts.watch === true,
            intervalMs: opts.interval * 1000,
            onShutdownSignal: run.onShutdownSignal,
          })
        },
      ),
    )
}

async function statusCommand(
  io: CliIo,
  databaseUrl: string,
  schema: string,
  options: StatusOptions,
): Promise<number> {
  if (!options.watch) return statusReport(io, databaseUrl, schema, options)
  let stopped = false
  let wake = () => {}
  options.onShutdownSignal(() => {
    stopped = true
    wake()
  })
  while (!stopped) {
    // On a terminal each report replaces the last; elsewhere reports follow each other.
    if (io.interactive && !options.json) io.out('\x1b[2J\x1b[H')
    if (!options.json)
      io.out(
        `postbox status at ${new Date().toISOString()} (every ${options.intervalMs / 1000}s, Ctrl-C stops)\n`,
      )
    const code = await statusReport(io, databaseUrl, schema, options)
    if (code !== 0) return code
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, options.intervalMs)
      wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }
  return 0
}

async function statusReport(
  io: CliIo,
  databaseUrl: string,
  schema: string,
  options: { json: boolean; showQuery: boolean; stallSeconds: number },
): Promise<number> {
  const migrations = await migrationState(databaseUrl, schema)
  if (migrations.applied.length === 0) {
    io.err(`schema ${schema} is not migrated: run \`postbox migrate\``)
    return 1
  }
  const db = openDatabase(databaseUrl, 'postbox status', 1)
  try {
    const q = statusQueries(schema)
    const topics = await q.topics(db)
    const relays = await q.relays(db)
    const unsettled = await q.unsettled(db)
    const stalled = unsettled.rows > 0 && (unsettled.oldestSeconds ?? 0) >= options.stallSeconds
    const blocker = stalled
      ? await oldestOpenTransaction(db, unsettled.holderPid, { withQuery: options.showQuery })
      : null
    const transaction =
      blocker === null
        ? null
        : {
            pid: blocker.pid,
            state: blocker.state,
            ageSeconds: blocker.age_seconds,
            queryStart: isoOrNull(blocker.query_start),
            applicationName: blocker.application_name,
            query: options.showQuery ? blocker.query : null,
          }
    if (options.json) {
      printJson(io, {
        at: new Date().toISOString(),
        topics: topics.map((t) => ({
          topic: t.topic,
          pending: t.pending,
          parked: t.parked,
          oldestPendingSeconds: t.oldest_pending_seconds,
          sentLastMinute: t.sent_last_minute,
        })),
        relays: relays.map((r) => ({
          id: r.id,
          host: r.host,
          pid: r.pid,
          heartbeatSecondsAgo: r.heartbeat_seconds_ago,
          shards: r.shards,
        })),
        waiting: stalled
          ? { unsettledRows: unsettled.rows, oldestSeconds: unsettled.oldestSeconds, transaction }
          : null,
        pendingMigrations: migrations.pending,
      })
      return 0
    }
    io.out(
      topics.length === 0
        ? 'outbox: nothing pending, parked or sent in the last minute'
        : table(
            ['topic', 'pending', 'oldest pending', 'parked', 'sent/min'],
            topics.map((t) => [
              t.topic,
              String(t.pending),
              formatSeconds(t.oldest_pending_seconds),
              String(t.parked),
              String(t.sent_last_minute),
            ]),
          ),
    )
    io.out('')
    io.out(
      relays.length === 0
        ? 'relays: none running'
        : table(
            ['relay', 'host', 'pid', 'heartbeat', 'shards'],
            relays.map((r) => [
              r.id,
              r.host,
              String(r.pid),
              `${formatSeconds(r.heartbeat_seconds_ago)} ago`,
              r.shards.join(','),
            ]),
          ),
    )
    if (stalled) {
      const tx = transaction
      io.out('')
      io.out(
        `waiting: ${unsettled.rows} committed row(s) wait behind an open transaction` +
          (tx === null
            ? ''
            : ` (pid ${tx.pid}, ${tx.state ?? 'unknown state'}, open ${formatSeconds(tx.ageSeconds)}, ` +
              `query started ${tx.queryStart ?? '?'}` +
              `${tx.query === null ? '; add --show-query for its query text' : `: ${tx.query}`})`),
      )
    }
    if (migrations.pending.length > 0)
      io.out(`\npending migrations: ${migrations.pending.join(', ')} (run postbox migrate)`)
    return 0
  } finally {
    await db.close()
  }
}
