import { confirmAction } from './confirm.js'
import { startProgress } from './progress.js'
import { type CommandRuntime, type ShutdownSignal, SIGNAL_EXIT_CODE } from './runtime.js'

/** What replay, purge and backfill have in common: count → dry run → confirm → paced loop → report. */
export interface BatchedOperation<Outcome extends { stopped: boolean }> {
  /** Progress label: "replay", "purge", "backfill". */
  readonly name: string
  readonly dryRun: boolean
  readonly yes: boolean
  /** Rows the operation would touch. */
  count(): Promise<number>
  /** Prints what a dry run shows and returns the exit code; changes nothing. */
  showDryRun(matched: number): Promise<number>
  /** Prints that no row matches. */
  showNothingToDo(): void
  /** The question asked before the work starts, e.g. "replay 12 row(s)". */
  action(matched: number): string
  /** Printed when the operator answers no. */
  readonly declined: string
  /** Runs the batches until done or `signal` aborts; `advance` moves the progress bar. */
  run(signal: AbortSignal, advance: (rows: number) => void): Promise<Outcome>
  /** Prints the result (also after a stop). */
  report(matched: number, outcome: Outcome): void
  /** How to go on after a stop, e.g. "--from-id 1043". */
  resumeHint(outcome: Outcome): string
}

/**
 * Runs a batched operation the same way for every command. SIGINT/SIGTERM stop it after the batch
 * in flight (committed), print how to continue, and exit 130/143.
 */
export async function runBatchedOperation<Outcome extends { stopped: boolean }>(
  run: CommandRuntime,
  op: BatchedOperation<Outcome>,
): Promise<number> {
  const matched = await op.count()
  if (op.dryRun) return op.showDryRun(matched)
  if (matched === 0) {
    op.showNothingToDo()
    return 0
  }
  if (!(await confirmAction(run.io, { yes: op.yes, action: op.action(matched) }))) {
    run.io.err(op.declined)
    return 1
  }
  const stop = new AbortController()
  let heard: ShutdownSignal = 'SIGTERM'
  run.onShutdownSignal((signal) => {
    if (!stop.signal.aborted) heard = signal
    stop.abort()
  })
  const progress = startProgress(run.io, op.name, matched)
  let outcome: Outcome
  try {
    outcome = await op.run(stop.signal, (rows) => progress.advance(rows))
  } finally {
    progress.stop()
  }
  op.report(matched, outcome)
  if (!outcome.stopped) return 0
  run.io.err(
    `${op.name} stopped by ${heard} after the batch in flight; continue with ${op.resumeHint(outcome)}`,
  )
  return SIGNAL_EXIT_CODE[heard]
}
