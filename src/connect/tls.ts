import { readFileSync } from 'node:fs'
import { ConfigError } from '../errors.js'
import { rememberSecret } from '../redact.js'

/** TLS settings as users write them: certificate and key FILE PATHS (PEM), never PEM text in env. */
export interface TlsFileSettings {
  /** CA certificate file(s) to trust instead of Node's default CAs. */
  ca?: string | readonly string[]
  /** Client certificate file (mutual TLS). */
  cert?: string
  /** Client private key file (mutual TLS). */
  key?: string
  /** Passphrase of the client private key. */
  passphrase?: string
  /** Verify the server's certificate (default true; false only for testing). */
  rejectUnauthorized?: boolean
}

/** TLS settings with the files read: what a TLS socket takes. */
export interface TlsMaterial {
  readonly ca?: readonly string[]
  readonly cert?: string
  readonly key?: string
  readonly passphrase?: string
  readonly rejectUnauthorized: boolean
}

/** Reads a PEM file named by a setting; a missing or unreadable file names the setting to fix. */
export function readPem(path: string, setting: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (cause) {
    const code = (cause as { code?: unknown }).code
    throw new ConfigError(`${setting}: cannot read ${path} (${String(code ?? cause)})`, { cause })
  }
}

/** Reads the files of `settings`; `prefix` names the settings in errors (e.g. "kafka.ssl"). */
export function loadTls(settings: TlsFileSettings, prefix: string): TlsMaterial {
  const caFiles =
    settings.ca === undefined ? [] : typeof settings.ca === 'string' ? [settings.ca] : settings.ca
  if ((settings.cert === undefined) !== (settings.key === undefined)) {
    throw new ConfigError(`${prefix}.cert and ${prefix}.key go together: set both for a client certificate`)
  }
  rememberSecret(settings.passphrase)
  return Object.freeze({
    ...(caFiles.length === 0 ? {} : { ca: Object.freeze(caFiles.map((f) => readPem(f, `${prefix}.ca`))) }),
    ...(settings.cert === undefined ? {} : { cert: readPem(settings.cert, `${prefix}.cert`) }),
    ...(settings.key === undefined ? {} : { key: readPem(settings.key, `${prefix}.key`) }),
    ...(settings.passphrase === undefined ? {} : { passphrase: settings.passphrase }),
    rejectUnauthorized: settings.rejectUnauthorized ?? true,
  })
}

/** Node's codes for a server certificate the client does not trust or that names another host. */
const UNTRUSTED_CERTIFICATE = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

/**
 * OpenSSL's codes for a server that refused the client's certificate (mutual TLS): none sent, or
 * one it does not trust.
 */
const CLIENT_CERTIFICATE_REFUSED = new Set([
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
])

/** Node's messages for the same failures, for clients that keep only the message. */
const UNTRUSTED_MESSAGES: readonly [RegExp, string][] = [
  [/self[- ]signed certificate in certificate chain/i, 'SELF_SIGNED_CERT_IN_CHAIN'],
  [/self[- ]signed certificate/i, 'DEPTH_ZERO_SELF_SIGNED_CERT'],
  [/unable to verify the first certificate/i, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
  [/unable to get local issuer certificate/i, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'],
  [/Hostname\/IP does not match certificate/i, 'ERR_TLS_CERT_ALTNAME_INVALID'],
  [/certificate has expired/i, 'CERT_HAS_EXPIRED'],
  [/alert certificate required/i, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'],
  [/alert bad certificate/i, 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE'],
  [/alert unknown ca/i, 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'],
]

const isTlsFailure = (code: string) => UNTRUSTED_CERTIFICATE.has(code) || CLIENT_CERTIFICATE_REFUSED.has(code)

/**
 * The TLS verification failure behind `error` (walking its causes), or null: a server
 * certificate the client does not trust, or a client certificate the server refused.
 */
export function tlsFailureCode(error: unknown): string | null {
  let current: unknown = error
  for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth++) {
    const e = current as { code?: unknown; cause?: unknown; message?: unknown }
    if (typeof e.code === 'string' && isTlsFailure(e.code)) return e.code
    // Some clients keep only the message of the socket error.
    const message = typeof e.message === 'string' ? e.message : ''
    const named = /\b([A-Z_]{8,})\b/.exec(message)?.[1]
    if (named !== undefined && isTlsFailure(named)) return named
    const described = UNTRUSTED_MESSAGES.find(([pattern]) => pattern.test(message))
    if (described !== undefined) return described[1]
    if (e.cause === current) break
    current = e.cause
  }
  return null
}

/** The settings a TLS failure can point at, named as an operator sets them. */
export interface TlsSettingNames {
  ca: string
  host: string
  clientCertificate: string
}

/** What to change for a TLS failure: the CA, the host name, or the client certificate. */
export function tlsFix(code: string, settings: TlsSettingNames): string {
  if (CLIENT_CERTIFICATE_REFUSED.has(code)) {
    return `the server refused the client certificate, or wants one (${code}): set ${settings.clientCertificate} to a certificate and key its CA trusts`
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `the server's certificate does not name the host connected to (${code}): use a host name the certificate lists in ${settings.host}`
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID' || code === 'CERT_REVOKED') {
    return `the server's certificate is not valid now (${code}): renew the server's certificate`
  }
  return `the server's certificate is not trusted (${code}): set ${settings.ca} to the CA file that signed it`
}
