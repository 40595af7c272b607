import { ConfigError } from '../errors.js'
import { quoteIdentifier } from './identifier.js'
import { openSession } from './session.js'

/** The three roles of a least-privilege deployment. */
export interface GrantRoles {
  /** Owns the schema and its tables; runs `postbox migrate`. */
  owner: string
  /** The application: may only add outbox rows (enqueue). */
  app: string
  /** The relay and the operator commands (status, parked, replay, purge). */
  relay: string
}

/** The SQL of `postbox grants`, in the order it runs. */
export interface GrantsScript {
  /** The roles (created when missing) and the schema: runs before the first `postbox migrate`. */
  rolesAndSchema: string[]
  /** Ownership of the tables and every privilege on them: needs the migrated schema. */
  tables: string[]
}

/**
 * Builds the grants for `schemaName`. Re-runnable: roles and the schema are created only when
 * missing, and each run first revokes what the application and relay roles hold on the tables, so
 * they end up with exactly these privileges whatever was granted before.
 */
export function grantsSql(
  schemaName: string,
  roles: GrantRoles,
  options: { login: boolean } = { login: false },
): GrantsScript {
  const s = quoteIdentifier(schemaName)
  if (schemaName === 'public')
    throw new ConfigError(
      'postbox grants gives the owner role the whole schema: use a schema of its own (the default postbox), not public',
    )
  const owner = quoteIdentifier(roles.owner, 'role')
  const app = quoteIdentifier(roles.app, 'role')
  const relay = quoteIdentifier(roles.relay, 'role')
  if (new Set([roles.owner, roles.app, roles.relay]).size !== 3)
    throw new ConfigError(
      `the owner, application and relay roles must be three different roles (got ${roles.owner}, ${roles.app}, ${roles.relay})`,
    )

  // Validated names hold only [a-z0-9_], so they are safe inside a string literal too.
  const createRoleIfMissing = (name: string) =>
    statement(`
      do $$
      begin
        if not exists (select from pg_roles where rolname = '${name}') then
          create role ${quoteIdentifier(name, 'role')} ${options.login ? 'login' : 'nologin'};
        end if;
      end
      $$`)

  // Every table migrations/ creates, and knex's two bookkeeping tables, with their sequences.
  const tables = [
    'outbox',
    'shard_lease',
    'relay',
    'inflight_batch',
    'event_type',
    'sent_count',
    'postbox_migrations',
    'postbox_migrations_lock',
  ].map((t) => `${s}.${t}`)
  const sequences = ['outbox_id_seq', 'postbox_migrations_id_seq', 'postbox_migrations_lock_index_seq'].map(
    (q) => `${s}.${q}`,
  )

  return {
    rolesAndSchema: [
      createRoleIfMissing(roles.owner),
      createRoleIfMissing(roles.app),
      createRoleIfMissing(roles.relay),
      statement(`
        -- Not \`create schema if not exists\`: that needs CREATE on the database even when the schema exists.
        do $$
        begin
          if to_regnamespace('${schemaName}') is null then
            create schema ${s} authorization ${owner};
          end if;
        end
        $$`),
      `alter schema ${s} owner to ${owner}`,
      `revoke all on schema ${s} from ${app}, ${relay}`,
      `grant usage on schema ${s} to ${app}, ${relay}`,
    ],
    tables: [
      ...tables.map((t, i) =>
        i === 0
          ? statement(`
              -- The owner migrates, so it owns every table (and with it its sequences), also when an
              -- administrator ran the first migration.
              alter table ${t} owner to ${owner}`)
          : `alter table ${t} owner to ${owner}`,
      ),
      statement(`
        -- The SQL-level enqueue functions (migration 0005); they run with the caller's privileges.
        alter function ${s}.enqueue(text, text, jsonb, jsonb, text) owner to ${owner}`),
      `alter function ${s}.new_event_id() owner to ${owner}`,
      statement(`
        -- Start from nothing, so a re-run also takes back privileges granted earlier and not listed below.
        revoke all on table ${tables.join(', ')} from ${app}, ${relay}`),
      `revoke all on sequence ${sequences.join(', ')} from ${app}, ${relay}`,
      statement(`
        -- The application adds outbox rows, writing exactly the columns enqueue writes. status,
        -- attempts, txid, created_at and id take their defaults: it cannot forge them. An identity
        -- column draws its value without privileges on its sequence; pg_notify is granted to PUBLIC.
        grant insert (event_id, event_type, topic, key, payload, headers) on ${s}.outbox to ${app}`),
      statement(`
        -- enqueue returns the new rows' ids (insert ... returning id), which needs SELECT on id. It
        -- shows the ids of other rows, never their content: no other column can be read or named in
        -- a condition, and rows cannot be locked (that needs UPDATE).
        grant select (id) on ${s}.outbox to ${app}`),
      statement(`
        -- ${s}.enqueue(), the SQL-level enqueue, looks the event type's topic up.
        grant select on ${s}.event_type to ${app}`),
      statement(`
        -- The relay claims, publishes, marks and parks rows; the operator commands retry and skip
        -- parked rows, replay (inserts copies as new rows) and purge (deletes). It changes relay
        -- state only, never an event's topic, key, payload or headers.
        grant select, delete,
          insert (event_id, event_type, topic, key, payload, headers),
          update (status, attempts, last_error, sent_at, parked_at, resolved_by)
        on ${s}.outbox to ${relay}`),
      statement(`
        -- The horizon reads the last id handed out: pg_sequence_last_value needs SELECT.
        grant select on sequence ${s}.outbox_id_seq to ${relay}`),
      `grant select, update (owner, epoch, expires_at) on ${s}.shard_lease to ${relay}`,
      `grant select, insert (id, host, pid), update (heartbeat_at), delete on ${s}.relay to ${relay}`,
      `grant select, insert, delete on ${s}.inflight_batch to ${relay}`,
      // UPDATE of one column only because the trim locks rows (`for update skip locked`), which needs it.
      `grant select, insert, update (rows), delete on ${s}.sent_count to ${relay}`,
      statement(`
        -- A starting relay registers its catalog's event types and topics for SQL-level enqueue.
        grant select, insert (type, topic), update (topic, updated_at) on ${s}.event_type to ${relay}`),
      statement(`
        -- postbox status reports pending migrations.
        grant select on ${s}.postbox_migrations to ${relay}`),
    ],
  }
}

/** SQL written indented in this file, without its common indentation. */
function statement(text: string): string {
  const lines = text.replace(/^\n+/, '').trimEnd().split('\n')
  const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length))
  return lines.map((l) => l.slice(indent)).join('\n')
}

/** Runs `statements` in one transaction: all of them or none. */
export async function applyGrants(databaseUrl: string, statements: readonly string[]): Promise<void> {
  const session = await openSession(databaseUrl, 'postbox grants')
  try {
    await session.transaction(async () => {
      for (const statement of statements) await session.query(statement, [])
    })
  } finally {
    await session.close()
  }
}
