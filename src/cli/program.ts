import { Command, CommanderError } from 'commander'
import { resolveConnection } from '../config.js'
import { redact } from '../redact.js'
import * as backfill from './backfill.js'
import { explainFailure } from './failure.js'
import * as grants from './grants.js'
import type { CliIo } from './io.js'
import * as migrate from './migrate.js'
import * as parked from './parked.js'
import * as purge from './purge.js'
import * as relay from './relay.js'
import * as replay from './replay.js'
import type { CommandRuntime, ShutdownSignal } from './runtime.js'
import * as schemas from './schemas.js'
import { type CliEnvironment, type GlobalOptions, loadSettings } from './settings.js'
import * as status from './status.js'

export interface CliContext {
  env: CliEnvironment
  io: CliIo
  /** The package version, printed by --version. */
  version: string
  onShutdownSignal(handler: (signal: ShutdownSignal) => void): void
}

const EXIT_USAGE = 2

/** Every command, each registered the same way: `register(program, runtime)`. */
const COMMANDS = [migrate, relay, status, parked, replay, purge, backfill, schemas, grants]

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
        'Connection settings come from the config file (postbox.config.ts|mjs|js exporting { events, ... }),\n' +
        'the options below and the environment (see the end of this help).',
    )
    .version(ctx.version, '-V, --version', 'print the postbox version')
    .option('-c, --config <file>', 'config file exporting the event catalog and settings')
    .option('-d, --database-url <url>', 'PostgreSQL URL (overrides DATABASE_URL and the PG* variables)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.io.out(s.trimEnd()), writeErr: (s) => ctx.io.err(s.trimEnd()) })
    .showHelpAfterError()
    .configureHelp({ showGlobalOptions: true })

  const settings = (options: { requireEvents: boolean }) =>
    loadSettings(ctx.env, program.opts<GlobalOptions>(), options)
  const runtime: CommandRuntime = {
    io: ctx.io,
    settings,
    connection: async () => resolveConnection(await settings({ requireEvents: false })),
    onShutdownSignal: ctx.onShutdownSignal,
    action:
      (run) =>
      async (...args) => {
        exitCode = await run(...args)
      },
  }
  for (const command of COMMANDS) command.register(program, runtime)
  program.addHelpText('after', ENVIRONMENT_HELP)
  addEnvironmentHelp(program)

  try {
    await program.parseAsync([...argv], { from: 'user' })
    return exitCode
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : EXIT_USAGE
    }
    const failure = explainFailure(error)
    ctx.io.err(`postbox: ${failure.message}`)
    return failure.exitCode
  }
}

/** Shown under every command's help: where settings come from besides the options. */
const ENVIRONMENT_HELP = `
Environment:
  DATABASE_URL          PostgreSQL URL (postgres://user@host:5432/database)
  PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, PGSSLROOTCERT, PGSSLCERT,
  PGSSLKEY, PGPASSFILE, PGCONNECT_TIMEOUT
                        libpq variables (and .pgpass), used when neither --database-url nor
                        DATABASE_URL is set; a connection attempt gives up after
                        connect_timeout seconds (URL parameter, default 10)
  KAFKA_BROKERS         Kafka bootstrap brokers, comma-separated (host:9092,host2:9092)
  SCHEMA_REGISTRY_URL   Confluent-compatible schema registry URL
  POSTBOX_SCHEMA        PostgreSQL schema of the outbox tables (default postbox)
  POSTBOX_CONFIG        config file, like --config
  LOG_LEVEL             debug, info, warn, error or silent
  KAFKA_SSL*, KAFKA_SASL_*, SCHEMA_REGISTRY_USERNAME|PASSWORD|TOKEN|CA|CERT|KEY
                        TLS and credentials (README, "Production connections")
The database URL is taken from the first that is set: --database-url, DATABASE_URL, the PG* variables,
databaseUrl in the config file. The other variables override the config file.`

/** Every subcommand's help shows the global options and the environment variables. */
function addEnvironmentHelp(command: Command): void {
  for (const sub of command.commands) {
    sub.addHelpText('after', ENVIRONMENT_HELP)
    addEnvironmentHelp(sub)
  }
}
