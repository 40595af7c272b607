import { MigrationError } from '../errors.js'
import { isUndefinedTable } from './errors.js'
import type { SqlExecutor } from './executor.js'
import { quoteIdentifier } from './identifier.js'

export interface EventTypeTopic {
  type: string
  topic: string
}

/** The event types SQL-level enqueue (`<schema>.enqueue(...)`) knows, with their topics. */
export function eventTypeQueries(schemaName: string) {
  const s = quoteIdentifier(schemaName)
  const upsertSql = `
    insert into ${s}.event_type (type, topic)
    select r.type, r.topic from jsonb_to_recordset($1::jsonb) as r(type text, topic text)
    on conflict (type) do update set topic = excluded.topic, updated_at = now()
    where ${s}.event_type.topic is distinct from excluded.topic`

  return {
    /** Records each catalog event's topic, so SQL written events land on the same topic. */
    async upsertEventTypes(db: SqlExecutor, events: readonly EventTypeTopic[]): Promise<void> {
      if (events.length === 0) return
      try {
        await db.query(upsertSql, [JSON.stringify(events)])
      } catch (error) {
        if (!isUndefinedTable(error)) throw error
        throw new MigrationError(
          `schema ${schemaName} has no event_type table (migration 0005_sql_enqueue.sql): run postbox migrate`,
          { cause: error },
        )
      }
    },
  }
}
