import pino from 'pino'

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
  return pino({ name, level }, pino.destination(2))
}

export const silentLogger: Logger = createLogger('silent')
