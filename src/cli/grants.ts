import { type Command, InvalidArgumentError } from 'commander'
import { requireDatabaseUrl } from '../config.js'
import { applyGrants, type GrantRoles, type GrantsScript, grantsSql } from '../db/grants.js'
import { quoteIdentifier } from '../db/identifier.js'
import { migrationState } from '../db/migrate.js'
import { MigrationError } from '../errors.js'
import type { CliIo } from './io.js'
import type { CommandRuntime } from './runtime.js'
import { USAGE_HINT } from './usage-error.js'

interface GrantsOptions extends GrantRoles {
  login?: boolean
  apply?: boolean
}

function parseRole(value: string): string {
  try {
    quoteIdentifier(value, 'role')
  } catch (error) {
    throw new InvalidArgumentError(error instanceof Error ? error.message : String(error))
  }
  return value
}

export function register(program: Command, run: CommandRuntime): void {
  program
    .command('grants')
    .showHelpAfterError(USAGE_HINT)
    .summary('print (or run with --apply) the SQL for least-privilege database roles')
    .description(
      'Print the SQL for three roles: the owner, which owns the schema and its tables and runs ' +
        '`postbox migrate`; the application, which may only add outbox rows (enqueue); and the relay, ' +
        'which runs the relay and the operator commands. With --apply, run it in one transaction as a ' +
        'role that may create roles and grant on the tables (a superuser). Re-runnable: missing roles ' +
        'are created, and the two other roles end up with exactly these privileges. Before the schema ' +
        'is migrated, --apply creates the roles and the schema only: migrate as the owner, then apply again.',
    )
    .option('--owner <role>', 'role that owns the schema and runs migrate', parseRole, 'postbox_owner')
    .option('--app <role>', 'role of the application (enqueue only)', parseRole, 'postbox_app')
    .option('--relay <role>', 'role of the relay and the operator commands', parseRole, 'postbox_relay')
    .option('--login', 'create missing roles with LOGIN (default NOLOGIN: grant them to your login roles)')
    .option('--apply', 'run the SQL in one transaction instead of printing it')
    .addHelpText(
      'after',
      `
Examples:
  postbox grants > grants.sql
  postbox grants --apply --login
  postbox grants --apply --app orders_service --relay orders_relay`,
    )
    .action(
      run.action(async (opts: GrantsOptions) => {
        const connection = await run.connection()
        const roles = { owner: opts.owner, app: opts.app, relay: opts.relay }
        const script = grantsSql(connection.schema, roles, { login: opts.login === true })
        if (opts.apply !== true) {
          run.io.out(formatScript(connection.schema, roles, script))
          return 0
        }
        return applyCommand(run.io, requireDatabaseUrl(connection), connection.schema, roles, script)
      }),
    )
}

async function applyCommand(
  io: CliIo,
  databaseUrl: string,
  schema: string,
  roles: GrantRoles,
  script: GrantsScript,
): Promise<number> {
  const state = await migrationState(databaseUrl, schema)
  if (state.unknown.length > 0)
    throw new MigrationError(
      `schema ${schema} was migrated by a newer Postbox (unknown migrations: ${state.unknown.join(', ')}); upgrade Postbox`,
    )
  const migrated = state.applied.length > 0 && state.pending.length === 0
  await applyGrants(
    databaseUrl,
    migrated ? [...script.rolesAndSchema, ...script.tables] : script.rolesAndSchema,
  )
  if (!migrated) {
    io.out(
      `roles ${roles.owner}, ${roles.app} and ${roles.relay} and schema ${schema} (owned by ${roles.owner}) are ready; ` +
        `schema ${schema} is not migrated yet: run \`postbox migrate\` as ${roles.owner}, then \`postbox grants --apply\` again`,
    )
    return 0
  }
  io.out(`${roles.owner} owns schema ${schema} and its tables`)
  io.out(`${roles.app} may add outbox rows (enqueue) and nothing else`)
  io.out(`${roles.relay} may run the relay and the operator commands`)
  return 0
}

function formatScript(schema: string, roles: GrantRoles, script: GrantsScript): string {
  const statements = (list: readonly string[]) => list.map((sql) => `${sql};`).join('\n')
  return [
    `-- Least-privilege roles for the Postbox schema ${schema}: owner ${roles.owner}, application ${roles.app}, relay ${roles.relay}.`,
    '-- Run as a superuser, after `postbox migrate` (or run `postbox grants --apply`, which also works before it).',
    'begin;',
    '',
    '-- Roles (created when missing) and the schema.',
    statements(script.rolesAndSchema),
    '',
    '-- The tables: run again after every `postbox migrate`.',
    statements(script.tables),
    '',
    'commit;',
  ].join('\n')
}
