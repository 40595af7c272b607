import { Command, CommanderError } from 'commander'
import { describeError, PostboxError } from '../errors.js'
import { redact } from '../redact.js'
import { registerBackfillCommand } from './backfill.js'
import type { CliIo } from './io.js'
import { migrateCommand } from './migrate.js'
import { registerParkedCommand } from './parked.js'
import { registerPurgeCommand } from './purge.js'
import { relayCommand } from './relay.js'
import { registerReplayCommand } from './replay.js'
import { type CommandRuntime, schemaOf } from './runtime.js'
import { registerSchemasCommand } from './schemas.js'
import { type CliEnvironment, databaseUrlOf, loadSettings } from './settings.js'
import { statusCommand } from './status.js'
import { UsageError } from './usage-error.js'

export interface CliContext {
  env: CliEnvironment
  io: CliIo
  onShutdownSignal(handler: () => void): void
}

const EXIT_USAGE = 2

/** Runs the postbox command line; resolves to the process exit code. */
export async function runCli(argv: readonly string[], context: CliContext): Promise<number> {
  // Everything the CLI prints passes the one redaction edge (errors, --json, status, --help).
  const ctx: CliContext = {
    ...context,
    io: {
      ...context.io,
      out: (line) => context.io.out(redact(line)),
      err: (line) => context.io.err(redact(line)),
    },
  }
  let exitCode = 0
  const program = new Command()
    .name('postbox')
    .description(
      'Transactional outbox for PostgreSQL → Kafka.\n\n' +
        'Connection settings come from the config file (postbox.config.ts|mjs|js exporting { events, ... })\n' +
        'and the environment: DATABASE_URL (or libpq PG* variables and .pgpass), KAFKA_BROKERS,\n' +
        'SCHEMA_REGISTRY_URL, POSTBOX_SCHEMA, LOG_LEVEL; KAFKA_SSL*, KAFKA_SASL_* and SCHEMA_REGISTRY_*\n' +
        'for TLS and credentials (see the README, "Production connections").',
    )
    .option('-c, --config <file>', 'config file exporting the event catalog and settings')
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.io.out(s.trimEnd()), writeErr: (s) => ctx.io.err(s.trimEnd()) })
    .showHelpAfterError()

  const global = () => program.opts<{ config?: string }>()

  program
    .command('migrate')
    .description('create or update the outbox tables (safe to run concurrently; a no-op when up to date)')
    .action(async () => {
      const settings = await loadSettings(ctx.env, global().config, { requireEvents: false })
      exitCode = await migrateCommand(ctx.io, databaseUrlOf(settings), schemaOf(settings))
    })

  program
    .command('relay')
    .description('run the relay: publish committed outbox rows to Kafka until SIGTERM/SIGINT')
    .option('--until-drained', 'exit 0 once no publishable row is pending (one-shot runs, demos, CI)')
    .option('--http-port <n>', 'serve /metrics, /healthz and /readyz on this port (overrides relay.httpPort)')
    .action(async (opts: { untilDrained?: boolean; httpPort?: string }) => {
      const loaded = await loadSettings(ctx.env, global().config, { requireEvents: true })
      const settings =
        opts.httpPort === undefined
          ? loaded
          : { ...loaded, relay: { ...loaded.relay, httpPort: Number(opts.httpPort) } }
      exitCode = await relayCommand(ctx.io, settings, {
        untilDrained: opts.untilDrained === true,
        onShutdownSignal: ctx.onShutdownSignal,
      })
    })

  program
    .command('status')
    .description(
      'backlog and oldest pending age per topic, parked rows, relays and their shards, and stall reasons',
    )
    .option('--json', 'machine-readable output')
    .option('--stall-seconds <n>', 'report rows waiting on an open transaction for at least this long', '10')
    .option('--watch', 'repeat the report until Ctrl-C (SIGINT/SIGTERM)')
    .option('--interval <seconds>', 'seconds between reports with --watch', '2')
    .action(async (opts: { json?: boolean; stallSeconds: string; watch?: boolean; interval: string }) => {
      const intervalMs = Number(opts.interval) * 1000
      if (!(intervalMs > 0)) throw new UsageError('--interval must be a positive number of seconds')
      const settings = await loadSettings(ctx.env, global().config, { requireEvents: false })
      exitCode = await statusCommand(ctx.io, databaseUrlOf(settings), schemaOf(settings), {
        json: opts.json === true,
        stallSeconds: Number(opts.stallSeconds),
        watch: opts.watch === true,
        intervalMs,
        onShutdownSignal: ctx.onShutdownSignal,
      })
    })

  const runtime: CommandRuntime = {
    io: ctx.io,
    settings: (options) => loadSettings(ctx.env, global().config, options),
    exit: (code) => {
      exitCode = code
    },
  }
  registerParkedCommand(program, runtime)
  registerReplayCommand(program, runtime)
  registerPurgeCommand(program, runtime)
  registerBackfillCommand(program, runtime)
  registerSchemasCommand(program, runtime)

  try {
    await program.parseAsync([...argv], { from: 'user' })
    return exitCode
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : EXIT_USAGE
    }
    if (error instanceof UsageError) {
      ctx.io.err(`postbox: ${error.message}`)
      return EXIT_USAGE
    }
    const code = error instanceof PostboxError ? ` [${error.code}]` : ''
    ctx.io.err(`postbox: ${describeError(error)}${code}`)
    return 1
  }
}
