import type { Command } from 'commander'
import { requireDatabaseUrl, resolveConnection } from '../config.js'
import { eventTypeQueries } from '../db/event-type-queries.js'
import { migrate } from '../db/migrate.js'
import { withClient } from '../db/pool.js'
import type { CommandRuntime } from './runtime.js'

export function register(program: Command, run: CommandRuntime): void {
  program
    .command('migrate')
    .description(
      'create or update the outbox tables (safe to run concurrently; a no-op when up to date); ' +
        'with a config file, also register its event types for SQL-level enqueue (<schema>.enqueue)',
    )
    .action(
      run.action(async () => {
        const settings = await run.settings({ requireEvents: false })
        const connection = resolveConnection(settings)
        const { schema } = connection
        const databaseUrl = requireDatabaseUrl(connection)
        const result = await migrate(databaseUrl, schema)
        if (result.applied.length === 0) {
          run.io.out(
            `schema ${schema} is up to date (${result.alreadyApplied.length} migration(s) applied earlier)`,
          )
        } else {
          for (const name of result.applied) run.io.out(`applied ${name}`)
          run.io.out(`schema ${schema} migrated`)
        }
        const eventTypes = settings.events.map(({ type, topic }) => ({ type, topic }))
        if (eventTypes.length > 0) {
          await withClient(databaseUrl, (db) => eventTypeQueries(schema).upsertEventTypes(db, eventTypes))
          run.io.out(`registered ${eventTypes.length} event type(s) for ${schema}.enqueue()`)
        }
        return 0
      }),
    )
}
