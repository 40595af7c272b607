// The one module that knows zod: the shape, types and ranges of PostboxSettings.
import { z } from 'zod'
import type { PostboxSettings, RelaySettings } from './config.js'
import { durationMs } from './duration.js'
import { ConfigError } from './errors.js'
import type { LogLevel } from './observe/logger.js'
import { isValidSchedule } from './relay/schedule.js'

/** A setting has an unknown key, a wrong type or a value out of its range (the CLI exits 2: nothing ran). */
export class InvalidSettingsError extends ConfigError {}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const satisfies readonly LogLevel[]
const everyLogLevelListed: LogLevel extends (typeof LOG_LEVELS)[number] ? true : false = true
void everyLogLevelListed

const positiveInt = z.number({ error: 'expected a positive whole number' }).int().positive()
const port = z
  .number({ error: 'expected a TCP port 0 … 65535 (0 picks a free one)' })
  .int()
  .min(0)
  .max(65_535)

/** What defineEvent() returns; anything else in `events` is a mistake in the config file. */
const eventDefinition = z.custom<PostboxSettings['events'][number]>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { type?: unknown }).type === 'string' &&
    typeof (value as { valueCodec?: unknown }).valueCodec === 'object',
  { message: 'expected an event made with defineEvent()' },
)

const relaySchema = z.strictObject({
  id: z.string().min(1).optional(),
  batchSize: positiveInt.optional(),
  maxBatchBytes: positiveInt.optional(),
  pollIntervalMs: positiveInt.optional(),
  minPollIntervalMs: positiveInt.optional(),
  listen: z.boolean().optional(),
  autoRegister: z.boolean().optional(),
  createTopics: z.boolean().optional(),
  topicPartitions: positiveInt.optional(),
  leaseTtlMs: positiveInt.optional(),
  maxMessageBytes: positiveInt.optional(),
  backoff: z.strictObject({ initialMs: positiveInt.optional(), maxMs: positiveInt.optional() }).optional(),
  stallWarningMs: positiveInt.optional(),
  httpPort: port.nullable().optional(),
  httpHost: z.string().min(1, 'expected a host name or IP address to listen on').optional(),
  delivery: z.enum(['at-least-once', 'exactly-once']).optional(),
  retention: z
    .strictObject({
      sentOlderThan: z.string().refine((v) => durationMs(v) !== null, {
        message: 'expected a duration such as 7d or 12h',
      }),
      schedule: z.string().refine(isValidSchedule, { message: 'expected a cron expression' }).optional(),
      batchSize: positiveInt.optional(),
    })
    .nullable()
    .optional(),
  sentRows: z.enum(['keep', 'delete']).optional(),
  transactionalIdPrefix: z
    .string()
    .regex(/^[a-zA-Z0-9._-]{1,200}$/, 'use 1 to 200 letters, digits, . _ - (it names a topic)')
    .optional(),
})

/** TLS material as file paths (never PEM text in settings). */
const tlsFiles = z.strictObject({
  ca: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  passphrase: z.string().optional(),
  rejectUnauthorized: z.boolean().optional(),
})

/** Mechanism names are checked (with a message naming the accepted ones) when the relay resolves them. */
const kafkaSasl = z.union([
  z.strictObject({ mechanism: z.string().min(1), username: z.string(), password: z.string() }),
  z.strictObject({
    mechanism: z.string().min(1),
    tokenProvider: z.custom<() => Promise<string>>((v) => typeof v === 'function', {
      message: 'expected a function returning a token',
    }),
  }),
])

const settingsSchema = z.strictObject({
  events: z.array(eventDefinition),
  databaseUrl: z.string().min(1).optional(),
  postgres: z
    .strictObject({
      sslmode: z
        .enum(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'])
        .optional(),
      sslrootcert: z.string().min(1).optional(),
      sslcert: z.string().min(1).optional(),
      sslkey: z.string().min(1).optional(),
      sslpassword: z.string().optional(),
    })
    .optional(),
  kafka: z
    .strictObject({
      brokers: z.union([z.string(), z.array(z.string())]).optional(),
      clientId: z.string().min(1).optional(),
      ssl: z.union([z.boolean(), tlsFiles]).optional(),
      sasl: kafkaSasl.optional(),
    })
    .optional(),
  registry: z
    .strictObject({
      url: z.string().min(1).optional(),
      username: z.string().optional(),
      password: z.string().optional(),
      token: z.string().optional(),
      ssl: tlsFiles.optional(),
    })
    .optional(),
  schema: z.string().min(1).optional(),
  logLevel: z.enum(LOG_LEVELS).optional(),
  relay: relaySchema.optional(),
})

// Compile-time guard: the schema and the documented interfaces list the same keys.
type SameKeys<A, B> = [Exclude<keyof A, keyof B> | Exclude<keyof B, keyof A>] extends [never] ? true : false
const settingsKeysMatch: SameKeys<PostboxSettings, z.input<typeof settingsSchema>> = true
const relayKeysMatch: SameKeys<RelaySettings, z.input<typeof relaySchema>> = true
void settingsKeysMatch
void relayKeysMatch

function pathText(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (text, part) =>
      typeof part === 'number' ? `${text}[${part}]` : text === '' ? String(part) : `${text}.${String(part)}`,
    '',
  )
}

function describeIssue(issue: z.core.$ZodIssue, value: unknown): string {
  if (issue.code === 'unrecognized_keys') {
    const at = pathText(issue.path)
    return issue.keys
      .map((key) => `unknown key ${at === '' ? key : `${at}.${key}`}`)
      .join(', ')
      .concat(' (check the spelling against the documented settings)')
  }
  const received = issue.path.reduce<unknown>(
    (v, part) =>
      typeof v === 'object' && v !== null ? (v as Record<PropertyKey, unknown>)[part] : undefined,
    value,
  )
  const at = pathText(issue.path) || 'the settings'
  if (received === undefined) return `${at}: ${issue.message}`
  return `${at} ${JSON.stringify(received) ?? String(received)}: ${issue.message}`
}

/**
 * Checks settings from `source` (a config file path, or "the settings" for a program) against the
 * documented shape: an unknown key, a wrong type or an out-of-range number is a one-line InvalidSettingsError (a ConfigError).
 */
export function parseSettings(value: unknown, source: string): PostboxSettings {
  const result = settingsSchema.safeParse(value)
  if (result.success) return value as PostboxSettings
  const [issue] = result.error.issues
  throw new InvalidSettingsError(
    `${source}: ${issue === undefined ? 'invalid settings' : describeIssue(issue, value)}`,
  )
}

/** Checks a log level, naming where it came from (LOG_LEVEL, or the logLevel setting). */
export function parseLogLevel(value: string, source: string): LogLevel {
  const result = z.enum(LOG_LEVELS).safeParse(value)
  if (result.success) return result.data
  throw new InvalidSettingsError(
    `${source} "${value}" is not a log level: use one of ${LOG_LEVELS.join(', ')}`,
  )
}
