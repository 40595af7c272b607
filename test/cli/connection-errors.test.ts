import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer as createHttpsServer } from 'node:https'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { runPostbox } from '../support/cli.js'
import { uniqueName } from '../support/stack.js'

const CONFIG = 'test/cli/fixtures/orders.config.ts'

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** An HTTPS server with a self-signed certificate, as a registry behind a private CA looks to a client that does not trust it. */
async function selfSignedHttps(dir: string): Promise<Server> {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-days',
      '1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  )
  const server = createHttpsServer(
    { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
    (_request, response) => response.end('{}'),
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

/** A TCP server that accepts connections and never says a word, as a host behind a dropping firewall looks. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    socket.on('error', () => {})
    sockets.add(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

describe('connection failures say in one line what is wrong and which setting to check', () => {
  let dir: string
  let https: Server
  let silent: Awaited<ReturnType<typeof silentServer>>
  let refusedPort = 0

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pbtls-'))
    https = await selfSignedHttps(dir)
    silent = await silentServer()
    refusedPort = await closedPort()
  })
  after(async () => {
    await new Promise<void>((resolve) => https.close(() => resolve()))
    await silent.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const status = (databaseUrl: string, env: Record<string, string> = {}) =>
    runPostbox(['status'], { databaseUrl, env })
  const schemasCheck = (registryUrl: string) =>
    runPostbox(['--config', CONFIG, 'schemas', 'check'], {
      databaseUrl: 'postgres://nobody@127.0.0.1:1/none',
      env: { PBTEST_TOPIC: uniqueName('cli.connect'), SCHEMA_REGISTRY_URL: registryUrl },
    })

  const cases: [string, () => ReturnType<typeof runPostbox>, RegExp][] = [
    [
      'a DATABASE_URL that is not a URL',
      () => status('notaurl'),
      /^postbox: the database URL is not a PostgreSQL URL: expected postgres:\/\/user@host:5432\/database; check DATABASE_URL/,
    ],
    [
      'a refused database connection',
      () => status('postgres://127.0.0.1:1/x'),
      /^postbox: cannot reach PostgreSQL at 127\.0\.0\.1:1: the connection was refused; check that the server runs, and the host and port in DATABASE_URL/,
    ],
    [
      'a database host that accepts and never answers (connect_timeout)',
      () => status(`postgres://app@127.0.0.1:${silent.port}/x?connect_timeout=1`),
      /^postbox: cannot reach PostgreSQL: the connection timed out; check the network path and firewall to the server, and the host and port in DATABASE_URL/,
    ],
    [
      'the same through PGCONNECT_TIMEOUT',
      () =>
        status('', {
          PGHOST: '127.0.0.1',
          PGPORT: String(silent.port),
          PGUSER: 'app',
          PGCONNECT_TIMEOUT: '1',
        }),
      /^postbox: cannot reach PostgreSQL: the connection timed out; check .*PGHOST/,
    ],
    [
      'a database host that does not resolve',
      () => status('postgres://nonexistent.invalid/x'),
      /^postbox: cannot reach PostgreSQL at nonexistent\.invalid: its host name does not resolve \(DNS\); check the host name in DATABASE_URL/,
    ],
    [
      'a role the server does not know (through PGUSER)',
      () => status('', { PGHOST: '127.0.0.1', PGUSER: 'pb_no_such_role' }),
      /^postbox: PostgreSQL refused the connection: role "pb_no_such_role" does not exist; check the user, password and database in DATABASE_URL/,
    ],
    [
      'a registry that is down',
      () => schemasCheck(`http://127.0.0.1:${refusedPort}`),
      /^postbox: cannot reach the schema registry at 127\.0\.0\.1:\d+: the connection was refused; check that the server runs, and the host and port in SCHEMA_REGISTRY_URL/,
    ],
    [
      'a registry whose certificate is not trusted',
      () => schemasCheck(`https://127.0.0.1:${(https.address() as { port: number }).port}`),
      /^postbox: registry: the server's certificate is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\): set registry\.ssl\.ca \(SCHEMA_REGISTRY_CA\) to the CA file that signed it/,
    ],
  ]
  for (const [name, run, expected] of cases) {
    test(name, async () => {
      const result = await run()
      assert.equal(result.code, 1, result.stderr)
      const lines = result.stderr.trimEnd().split('\n')
      assert.equal(lines.length, 1, `one line on stderr: ${result.stderr}`)
      assert.match(lines[0] ?? '', expected)
    })
  }
})
