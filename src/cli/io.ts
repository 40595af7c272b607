/** Where commands write: stdout for results, stderr for progress and errors. */
export interface CliIo {
  out(line: string): void
  err(line: string): void
  /** True when stdout is a terminal (progress bars, prompts). */
  readonly interactive: boolean
  /** True when stdin is a terminal, so a command may ask before a destructive action. */
  readonly canPrompt: boolean
  /** Asks one question on the terminal and resolves to the line typed (only called when canPrompt). */
  ask(question: string): Promise<string>
}

/** Fixed-width table for terminal output. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

export function formatSeconds(seconds: number | null): string {
  if (seconds === null) return '-'
  if (seconds < 120) return `${seconds.toFixed(1)}s`
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)}m`
  return `${(seconds / 3600).toFixed(1)}h`
}
