import pino from 'pino'
import { redact, redactDeep } from '../redact.js'

/** The logging interface the rest of the code talks to (pino's call shape). */
export interface Logger {
  debug(fields: object, message: string): void
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
  error(fields: object, message: string): void
  child(fields: object): Logger
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'

/** Structured JSON logs on stderr (stdout stays free for command output). */
export function createLogger(level: LogLevel, name = 'postbox'): Logger {
  return pino(
    {
      name,
      level,
      // Secrets never reach a log line: fields and messages pass the one redaction edge.
      formatters: { log: (fields) => redactDeep(fields) as Record<string, unknown> },
      hooks: {
        logMethod(args, method) {
          method.apply(
            this,
            args.map((a) => (typeof a === 'string' ? redact(a) : a)) as Parameters<typeof method>,
          )
        },
      },
    },
    pino.destination(2),
  )
}

export const silentLogger: Logger = createLogger('silent')
