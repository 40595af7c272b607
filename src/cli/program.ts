import { Command, CommanderError } from 'commander'
import { resolveConnection } from '../config.js'
import { InvalidSettingsError } from '../config-schema.js'
import { describeError, PostboxError } from '../errors.js'
import { redact } from '../redact.js'
import * as backfill from './backfill.js'
import * as grants from './grants.js'
import type { CliIo } from './io.js'
import * as migrate from './migrate.js'
import * as parked from './parked.js'
import * as purge from './purge.js'
import * as relay from './relay.js'
import * as replay from './replay.js'
import type { CommandRuntime, ShutdownSignal } from './runtime.js'
import * as schemas from './schemas.js'
import { type CliEnvironment, loadSettings } from './settings.js'
import * as status from './status.js'
import { UsageError } from './usage-error.js'

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
        'Connection settings come from the config file (postbox.config.ts|mjs|js exporting { events, ... })\n' +
        'and the environment: DATABASE_URL (or libpq PG* variables and .pgpass), KAFKA_BROKERS,\n' +
        'SCHEMA_REGISTRY_URL, POSTBOX_SCHEMA, LOG_LEVEL; KAFKA_SSL*, KAFKA_SASL_* and SCHEMA_REGISTRY_*\n' +
        'for TLS and credentials (see the README, "Production connections").',
    )
    .version(ctx.version, '-V, --version', 'print the postbox version')
    .option('-c, --config <file>', 'config file exporting the event catalog and settings')
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.io.out(s.trimEnd()), writeErr: (s) => ctx.io.err(s.trimEnd()) })
    .showHelpAfterError()

  const settings = (options: { requireEvents: boolean }) =>
    loadSettings(ctx.env, program.opts<{ config?: string }>().config, options)
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
    // A malformed setting: nothing ran, like a usage error.
    if (error instanceof InvalidSettingsError) {
      ctx.io.err(`postbox: ${error.message} [${error.code}]`)
      return EXIT_USAGE
    }
    const code = error instanceof PostboxError ? ` [${error.code}]` : ''
    ctx.io.err(`postbox: ${describeError(error)}${code}`)
    return 1
  }
}
