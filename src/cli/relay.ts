import { type PostboxSettings, resolveConfig } from '../config.js'
import { openDatabase } from '../db/pool.js'
import { statusQueries } from '../db/status-queries.js'
import { createLogger } from '../observe/logger.js'
import { Relay } from '../relay/relay.js'
import type { CliIo } from './io.js'

export interface RelayCommandOptions {
  untilDrained: boolean
  /** bin/ hands us a way to hear SIGTERM/SIGINT. */
  onShutdownSignal(handler: () => void): void
}

export async function relayCommand(
  io: CliIo,
  settings: PostboxSettings,
  options: RelayCommandOptions,
): Promise<number> {
  const config = resolveConfig(settings)
  const logger = createLogger(config.logLevel)
  const relay = new Relay(config, { logger })
  let stopping: Promise<void> | null = null
  const stop = () => {
    stopping ??= relay.stop()
    return stopping
  }
  options.onShutdownSignal(() => {
    logger.info({}, 'shutdown signal: finishing the batch in flight')
    void stop()
  })
  await relay.start()
  io.err(
    `relay ${config.relay.id} running (schema ${config.schema}, brokers ${config.kafka.brokers.join(',')})`,
  )
  if (options.untilDrained) {
    const db = openDatabase(config.databaseUrl, 'postbox relay drain-check', 1)
    try {
      const q = statusQueries(config.schema)
      while (stopping === null && (await q.publishableCount(db)) > 0) {
        await new Promise((r) => setTimeout(r, 100))
      }
    } finally {
      await db.close()
    }
    await stop()
    io.err('outbox drained')
    return 0
  }
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (stopping !== null) {
        clearInterval(check)
        void stopping.then(resolve)
      }
    }, 100)
  })
  return 0
}
