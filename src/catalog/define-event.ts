import { quoteIdentifier } from '../db/identifier.js'
import { ConfigError, describeError } from '../errors.js'
import { type AvroCodec, compileSchema } from '../schema/codec.js'
import type { AvroSchema, BackfillSource, CleanupPolicy, Compatibility, EventKey } from './types.js'

export interface EventOptions<TInternal, TExternal, TKey extends EventKey> {
  /** Stable name stored with each row, e.g. "order.placed". */
  type: string
  /** Kafka topic the event is published to. */
  topic: string
  /** The aggregate key: becomes the Kafka message key and orders events of one aggregate. */
  key: (internal: TInternal) => TKey
  /** The external Avro schema consumers read (the content of an .avsc file). */
  schema: AvroSchema
  /**
   * Maps the internal snapshot to the external record. It receives the snapshot as stored (JSON),
   * with Dates and bigints restored; other class instances arrive in their JSON form.
   */
  toExternal: (internal: TInternal) => TExternal
  /** Optional Avro schema for the key (subject `<topic>-key`); a string key is used without it. */
  keySchema?: AvroSchema
  /** Compatibility level set on the subjects when registering (default BACKWARD). */
  compatibility?: Compatibility
  /** cleanup.policy when the relay creates the topic (default compact: entity topics). */
  cleanupPolicy?: CleanupPolicy
  /** Value subject name (default TopicNameStrategy: `<topic>-value`). */
  subject?: string
  /** The table `postbox backfill` reads to publish the current state of rows never enqueued. */
  backfill?: BackfillSource
}

export interface EventDefinition<TInternal = never, TExternal = unknown, TKey extends EventKey = EventKey> {
  readonly type: string
  readonly topic: string
  readonly key: (internal: TInternal) => TKey
  readonly toExternal: (internal: TInternal) => TExternal
  readonly schema: AvroSchema
  readonly keySchema: AvroSchema | undefined
  readonly compatibility: Compatibility
  readonly cleanupPolicy: CleanupPolicy
  readonly subject: string
  readonly keySubject: string | undefined
  readonly backfill: Readonly<BackfillSource> | undefined
  readonly valueCodec: AvroCodec
  readonly keyCodec: AvroCodec | undefined
}

/** An event definition with its type parameters erased, as the catalog and relay hold it. */
// biome-ignore lint/suspicious/noExplicitAny: the catalog holds definitions of every row type
export type AnyEventDefinition = EventDefinition<any, unknown, EventKey>

const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/

export function defineEvent<TInternal, TExternal, TKey extends EventKey = string>(
  options: EventOptions<TInternal, TExternal, TKey>,
): EventDefinition<TInternal, TExternal, TKey> {
  if (!options.type || typeof options.type !== 'string') {
    throw new ConfigError('defineEvent: `type` must be a non-empty string such as "order.placed"')
  }
  if (!TOPIC_NAME.test(options.topic)) {
    throw new ConfigError(
      `defineEvent(${options.type}): topic "${options.topic}" is not a valid Kafka topic name (letters, digits, . _ -)`,
    )
  }
  const compile = (schema: AvroSchema, what: string): AvroCodec => {
    try {
      return compileSchema(schema)
    } catch (cause) {
      throw new ConfigError(
        `defineEvent(${options.type}): the ${what} schema is not valid Avro: ${describeError(cause)}`,
        {
          cause,
        },
      )
    }
  }
  const backfill = options.backfill
  if (backfill !== undefined) {
    const what = `defineEvent(${options.type}): backfill`
    quoteIdentifier(backfill.table, `${what}.table`)
    quoteIdentifier(backfill.schema ?? 'public', `${what}.schema`)
    quoteIdentifier(backfill.keyColumn, `${what}.keyColumn`)
  }
  return Object.freeze({
    type: options.type,
    topic: options.topic,
    key: options.key,
    toExternal: options.toExternal,
    schema: options.schema,
    keySchema: options.keySchema,
    compatibility: options.compatibility ?? 'BACKWARD',
    cleanupPolicy: options.cleanupPolicy ?? 'compact',
    subject: options.subject ?? `${options.topic}-value`,
    keySubject: options.keySchema === undefined ? undefined : `${options.topic}-key`,
    backfill: backfill === undefined ? undefined : Object.freeze({ schema: 'public', ...backfill }),
    valueCodec: compile(options.schema, 'value'),
    keyCodec: options.keySchema === undefined ? undefined : compile(options.keySchema, 'key'),
  })
}
