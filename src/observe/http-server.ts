import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ConfigError, describeError } from '../errors.js'
import { redact } from '../redact.js'
import type { RelayHealth } from '../relay/relay.js'
import { type Logger, silentLogger } from './logger.js'
import type { RelayMetrics } from './metrics.js'

export interface RelayHttpServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number
  readonly url: string
  /** Stops accepting connections and closes open ones. Idempotent. */
  close(): Promise<void>
}

export interface RelayHttpOptions {
  /** TCP port; 0 picks a free one. */
  port: number
  /**
   * Interface to bind (default 127.0.0.1: the endpoints describe the database, so they are not
   * exposed beyond the machine unless asked; a container sets "0.0.0.0").
   */
  host?: string
  logger?: Logger
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' })
  // /readyz reasons and /metrics text pass the one redaction edge: no secret leaves the process.
  res.end(res.req.method === 'HEAD' ? undefined : redact(body))
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(body)}\n`)
}

/**
 * Serves /metrics (Prometheus), /healthz (200 while the relay runs, even when a dependency is
 * down, so an orchestrator does not restart a relay that is only waiting) and /readyz (200 only
 * while it publishes; 503 with the reason otherwise).
 */
export async function serveRelayHttp(
  relay: { health(): RelayHealth },
  metrics: RelayMetrics,
  options: RelayHttpOptions,
): Promise<RelayHttpServer> {
  const logger = options.logger ?? silentLogger
  const host = options.host ?? '127.0.0.1'

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    const path = new URL(req.url ?? '/', 'http://relay').pathname
    const health = relay.health()
    switch (path) {
      case '/metrics':
        send(res, 200, metrics.contentType, await metrics.render(health))
        return
      case '/healthz':
        sendJson(res, health.running ? 200 : 503, { running: health.running })
        return
      case '/readyz':
        // Ready with a reason means publishing, but rows wait behind an open transaction (see stall).
        sendJson(res, health.ready ? 200 : 503, {
          ready: health.ready,
          reason: health.ready ? health.reason : (health.reason ?? 'stopped'),
          shards: health.shards,
          stall: health.stall,
        })
        return
      default:
        sendJson(res, 404, { error: 'not found: try /metrics, /healthz or /readyz' })
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      logger.warn({ err: describeError(error), url: req.url }, 'http request failed')
      if (!res.headersSent) sendJson(res, 500, { error: describeError(error) })
      else res.end()
    })
  })
  await new Promise<void>((resolve, reject) => {
    const refuse = (error: Error) =>
      reject(
        new ConfigError(
          `cannot serve /metrics, /healthz and /readyz on ${host} port ${options.port}: ${error.message} (check relay.httpHost / --http-host and relay.httpPort / --http-port)`,
          { cause: error },
        ),
      )
    server.once('error', refuse)
    server.listen(options.port, host, () => {
      server.off('error', refuse)
      resolve()
    })
  })
  server.on('error', (error) => logger.warn({ err: describeError(error) }, 'http server error'))
  const { port } = server.address() as AddressInfo
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  logger.info({ host, port, url }, `serving /metrics, /healthz and /readyz on port ${port}`)

  let closing: Promise<void> | null = null
  return {
    port,
    url,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        server.closeAllConnections()
      })
      return closing
    },
  }
}
