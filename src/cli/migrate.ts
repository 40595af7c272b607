import type { Command } from 'commander'
import { requireDatabaseUrl } from '../config.js'
import { migrate } from '../db/migrate.js'
import type { CommandRuntime } from './runtime.js'

export function register(program: Command, run: CommandRuntime): void {
  program
    .command('migrate')
    .description('create or update the outbox tables (safe to run concurrently; a no-op when up to date)')
    .action(
      run.action(async () => {
        const connection = await run.connection()
        const { schema } = connection
        const result = await migrate(requireDatabaseUrl(connection), schema)
        if (result.applied.length === 0) {
          run.io.out(
            `schema ${schema} is up to date (${result.alreadyApplied.length} migration(s) applied earlier)`,
          )
        } else {
          for (const name of result.applied) run.io.out(`applied ${name}`)
          run.io.out(`schema ${schema} migrated`)
        }
        return 0
      }),
    )
}
