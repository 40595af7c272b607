import type { ConnectionConfig, PostboxSettings } from '../config.js'
import type { CliIo } from './io.js'

/** The signals bin/ hears and passes down by name. */
export type ShutdownSignal = 'SIGINT' | 'SIGTERM'

/** The conventional exit code of a process stopped by `signal` (128 + its number). */
export const SIGNAL_EXIT_CODE: Record<ShutdownSignal, number> = { SIGINT: 130, SIGTERM: 143 }

/** What a command needs from the program around it; commands never read env, argv or signals. */
export interface CommandRuntime {
  readonly io: CliIo
  /** Settings from the config file (--config, POSTBOX_CONFIG or the default names) and the environment. */
  settings(options: { requireEvents: boolean }): Promise<PostboxSettings>
  /** Connection settings with their defaults (no event catalog needed). */
  connection(): Promise<ConnectionConfig>
  /** Calls `handler` with the signal's name on SIGINT/SIGTERM. */
  onShutdownSignal(handler: (signal: ShutdownSignal) => void): void
  /**
   * Wraps a command's action: it resolves to the exit code (0 ok, 1 failure, 130/143 stopped by a
   * signal); usage errors (2) are thrown as UsageError.
   */
  action<Args extends unknown[]>(run: (...args: Args) => Promise<number>): (...args: Args) => Promise<void>
}
