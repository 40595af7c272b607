import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A CA and a server certificate for 127.0.0.1 and localhost, made with openssl for one test file. */
export interface TestCertificates {
  dir: string
  caFile: string
  serverCertFile: string
  serverKeyFile: string
  /** A client certificate (CN postbox-client) the same CA signs, for servers that demand one. */
  clientCertFile: string
  clientKeyFile: string
  /** Removes the files. */
  remove(): void
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
}

/** A key `<name>.key` and a certificate `<name>.pem` for `subject`, signed by the CA in `dir`. */
function signedCertificate(dir: string, name: string, subject: string, extension: string): void {
  openssl(dir, [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    subject,
  ])
  writeFileSync(join(dir, `${name}.ext`), `${extension}\n`)
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.pem`,
  ])
}

/** Generates a fresh CA (`name` in its subject) and a server and a client certificate it signs. */
export function makeTestCertificates(name = 'postbox-test-ca'): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'postbox-tls-'))
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-subj',
    `/CN=${name}`,
  ])
  signedCertificate(dir, 'server', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost')
  signedCertificate(dir, 'client', '/CN=postbox-client', 'extendedKeyUsage=clientAuth')
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    serverCertFile: join(dir, 'server.pem'),
    serverKeyFile: join(dir, 'server.key'),
    clientCertFile: join(dir, 'client.pem'),
    clientKeyFile: join(dir, 'client.key'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}
