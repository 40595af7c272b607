import cliProgress from 'cli-progress'
import type { CliIo } from './io.js'

export interface Progress {
  /** Adds `n` done items. */
  advance(n: number): void
  stop(): void
}

const LINE_INTERVAL_MS = 2000

/**
 * A progress bar on a terminal; elsewhere (CI, pipes, log files) a plain line on stderr at most
 * every two seconds, so logs stay readable.
 */
export function startProgress(io: CliIo, label: string, total: number): Progress {
  let done = 0
  if (io.interactive) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {percentage}% | {value}/{total} | {duration_formatted}`, hideCursor: true },
      cliProgress.Presets.shades_classic,
    )
    bar.start(total, 0)
    return {
      advance(n) {
        done += n
        if (done > bar.getTotal()) bar.setTotal(done)
        bar.update(done)
      },
      stop: () => bar.stop(),
    }
  }
  const started = Date.now()
  let lastLine = started
  const line = () => {
    const percent = total > 0 ? ` (${Math.min(100, Math.floor((done / total) * 100))}%)` : ''
    io.err(`${label}: ${done}/${total}${percent}, ${((Date.now() - started) / 1000).toFixed(1)}s`)
  }
  return {
    advance(n) {
      done += n
      if (Date.now() - lastLine >= LINE_INTERVAL_MS) {
        lastLine = Date.now()
        line()
      }
    },
    stop: line,
  }
}
