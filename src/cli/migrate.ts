import { migrate } from '../db/migrate.js'
import type { CliIo } from './io.js'

export async function migrateCommand(io: CliIo, databaseUrl: string, schema: string): Promise<number> {
  const result = await migrate(databaseUrl, schema)
  if (result.applied.length === 0) {
    io.out(`schema ${schema} is up to date (${result.alreadyApplied.length} migration(s) applied earlier)`)
  } else {
    for (const name of result.applied) io.out(`applied ${name}`)
    io.out(`schema ${schema} migrated`)
  }
  return 0
}
