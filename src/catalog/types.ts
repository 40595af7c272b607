/** An Avro schema as parsed JSON (the content of an .avsc file). */
export type AvroSchema = Readonly<Record<string, unknown>> | string | readonly unknown[]

/** Registry compatibility levels a subject can be set to. */
export type Compatibility =
  | 'BACKWARD'
  | 'BACKWARD_TRANSITIVE'
  | 'FORWARD'
  | 'FORWARD_TRANSITIVE'
  | 'FULL'
  | 'FULL_TRANSITIVE'
  | 'NONE'

export type CleanupPolicy = 'compact' | 'delete'

/** A Kafka key: a plain string, or a record encoded with the event's Avro key schema. */
export type EventKey = string | Readonly<Record<string, unknown>>

/**
 * Where `postbox backfill` reads the current state of an event's rows: a table whose rows are
 * the event's internal snapshot (what the application passes to enqueue()).
 */
export interface BackfillSource {
  /** Table holding the rows (a lower-case SQL identifier). */
  table: string
  /** Its Postgres schema (default "public"). */
  schema?: string
  /** A unique, never-updated column (usually the primary key): backfill pages through the table in its order. */
  keyColumn: string
}
