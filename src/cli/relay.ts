import type { Command } from 'commander'
import { type PostboxSettings, resolveConfig } from '../config.js'
import { openDatabase } from '../db/pool.js'
import { statusQueries } from '../db/status-queries.js'
import { type RelayHttpServer, serveRelayHttp } from '../observe/http-server.js'
import { createLogger, type Logger } from '../observe/logger.js'
import { createRelayMetrics } from '../observe/metrics.js'
import { Relay } from '../relay/relay.js'
import { parsePort } from './arguments.js'
import { explainFailure } from './failure.js'
import type { CommandRuntime, ShutdownSignal } from './runtime.js'

export function register(program: Command, run: CommandRuntime): void {
  program
    .command('relay')
    .description('run the relay: publish committed outbox rows to Kafka until SIGTERM/SIGINT')
    .option('--until-drained', 'exit 0 once no publishable row is pending (one-shot runs, demos, CI)')
    .option(
      '--http-port <n>',
      'serve /metrics, /healthz and /readyz on this port (overrides relay.httpPort)',
      parsePort,
    )
    .option(
      '--http-host <host>',
      'interface the HTTP port listens on (overrides relay.httpHost; default 127.0.0.1, 0.0.0.0 for all)',
    )
    .action(
      run.action(async (opts: { untilDrained?: boolean; httpPort?: number; httpHost?: string }) => {
        // Every line the relay writes is a JSON log line, its last words included (log shippers parse them).
        let logger: Logger | null = null
        try {
          const loaded = await run.settings({ requireEvents: true })
          logger = createLogger(loaded.logLevel ?? 'info')
          const settings = {
            ...loaded,
            relay: {
              ...loaded.relay,
              ...(opts.httpPort === undefined ? {} : { httpPort: opts.httpPort }),
              ...(opts.httpHost === undefined ? {} : { httpHost: opts.httpHost }),
            },
          }
          return await relayUntilStopped(logger, settings, {
            untilDrained: opts.untilDrained === true,
            onShutdownSignal: run.onShutdownSignal,
          })
        } catch (error) {
          const failure = explainFailure(error)
          ;(logger ?? createLogger('info')).error({ exitCode: failure.exitCode }, failure.message)
          return failure.exitCode
        }
      }),
    )
}

interface RelayOptions {
  untilDrained: boolean
  onShutdownSignal(handler: (signal: ShutdownSignal) => void): void
}

async function relayUntilStopped(
  logger: Logger,
  settings: PostboxSettings,
  options: RelayOptions,
): Promise<number> {
  const config = resolveConfig(settings)
  const metrics = createRelayMetrics(config, { logger })
  const relay = new Relay(config, { logger, hooks: metrics.hooks })
  let http: RelayHttpServer | null = null
  let stopping: Promise<void> | null = null
  const closeObservability = async () => {
    await http?.close()
    await metrics.close()
  }
  const stop = () => {
    stopping ??= relay.stop().finally(closeObservability)
    return stopping
  }
  const shutdownSignal = new Promise<void>((resolve) => {
    options.onShutdownSignal(() => {
      logger.info({}, 'shutdown signal: finishing the batch in flight')
      resolve()
      void stop()
    })
  })
  // Served before start-up finishes, so /readyz can say why a relay waiting on Kafka or the registry is not ready.
  if (config.relay.httpPort !== null) {
    try {
      http = await serveRelayHttp(relay, metrics, {
        port: config.relay.httpPort,
        host: config.relay.httpHost,
        logger,
      })
    } catch (error) {
      await closeObservability()
      throw error
    }
  }
  try {
    await relay.start()
  } catch (error) {
    await closeObservability()
    throw error
  }
  logger.info(
    { relayId: config.relay.id, schema: config.schema, brokers: config.kafka.brokers },
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
    logger.info({}, 'outbox drained')
    return 0
  }
  await shutdownSignal
  await stop()
  return 0
}
