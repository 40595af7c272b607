import type { CliIo } from './io.js'
import { UsageError } from './usage-error.js'

/**
 * Asks before a destructive action. `--yes` skips the question; without a terminal on stdin
 * there is nobody to ask, so the command refuses (exit 2) instead of hanging or guessing.
 */
export async function confirmAction(io: CliIo, options: { yes: boolean; action: string }): Promise<boolean> {
  if (options.yes) return true
  if (!io.canPrompt) {
    throw new UsageError(
      `refusing to ${options.action} without confirmation: stdin is not a terminal, so pass --yes`,
    )
  }
  const answer = await io.ask(`${options.action}? [y/N] `)
  return /^y(es)?$/i.test(answer.trim())
}
