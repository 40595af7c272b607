import { readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { TestCertificates } from './tls-files.js'

/** An HTTPS front for the local schema registry that demands basic auth, as a production registry does. */
export interface AuthenticatingProxy {
  /** https://127.0.0.1:<port> plus the upstream's path (no credentials). */
  url: string
  /** The same URL with `user:password@`. */
  urlWithCredentials(user: string, password: string): string
  /** Requests answered 401 so far. */
  readonly refused: number
  /** Requests forwarded to the registry so far. */
  readonly forwarded: number
  close(): Promise<void>
}

/**
 * Starts an HTTPS server on 127.0.0.1 with the test CA's server certificate; a request with
 * `Authorization: Basic user:password` (or `Bearer <token>` when a token is given) is forwarded to
 * `upstream` (an http:// registry URL), anything else gets 401. With `requireClientCertificate`
 * the TLS handshake also demands a client certificate signed by the test CA.
 */
export async function startAuthenticatingProxy(
  upstream: string,
  certificates: TestCertificates,
  credentials: { user: string; password: string; token?: string },
  options: { requireClientCertificate?: boolean } = {},
): Promise<AuthenticatingProxy> {
  const target = new URL(upstream)
  const accepted = new Set([
    `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`,
  ])
  if (credentials.token !== undefined) accepted.add(`Bearer ${credentials.token}`)
  let refused = 0
  let forwarded = 0
  const server: Server = createServer(
    {
      key: readFileSync(certificates.serverKeyFile),
      cert: readFileSync(certificates.serverCertFile),
      // Mutual TLS: a client without a certificate from the test CA does not get past the handshake.
      ...(options.requireClientCertificate === true
        ? { requestCert: true, rejectUnauthorized: true, ca: readFileSync(certificates.caFile) }
        : {}),
    },
    (req, res) => {
      if (!accepted.has(req.headers.authorization ?? '')) {
        refused++
        res.writeHead(401, {
          'www-authenticate': 'Basic realm="registry"',
          'content-type': 'application/json',
        })
        res.end(JSON.stringify({ error_code: 401, message: 'Unauthorized' }))
        return
      }
      forwarded++
      const { authorization: _authorization, host: _host, ...headers } = req.headers
      const outgoing = httpRequest(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers)
          answer.pipe(res)
        },
      )
      outgoing.on('error', () => {
        res.writeHead(502).end()
      })
      req.pipe(outgoing)
    },
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const path = target.pathname.replace(/\/+$/, '')
  return {
    url: `https://127.0.0.1:${port}${path}`,
    urlWithCredentials: (user, password) =>
      `https://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}${path}`,
    get refused() {
      return refused
    },
    get forwarded() {
      return forwarded
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
