import type { PostboxSettings } from '../config.js'
import type { CliIo } from './io.js'

/** What a command needs from the program around it; commands never read env, argv or signals. */
export interface CommandRuntime {
  readonly io: CliIo
  /** Settings from the config file (--config, POSTBOX_CONFIG or the default names) and the environment. */
  settings(options: { requireEvents: boolean }): Promise<PostboxSettings>
  /** Sets the process exit code: 0 ok, 1 failure (2, usage, is thrown as UsageError). */
  exit(code: number): void
}

export const schemaOf = (settings: PostboxSettings): string => settings.schema ?? 'postbox'
