import { ConfigError } from '../errors.js'
import { rememberSecret } from '../redact.js'
import { loadTls, type TlsFileSettings, type TlsMaterial } from './tls.js'

/** `registry` in the config file (SCHEMA_REGISTRY_* in the environment). */
export interface RegistrySettings {
  /** Confluent-compatible API base, e.g. https://psrc-x.eu-west-1.aws.confluent.cloud. */
  url?: string
  /** Basic auth (Confluent Cloud: the registry API key and secret). Userinfo in `url` works too. */
  username?: string
  password?: string
  /** Bearer token, sent as `Authorization: Bearer <token>` (instead of basic auth). */
  token?: string
  /** CA and client certificate files for an https registry. */
  ssl?: TlsFileSettings
}

/** How to reach the registry: a URL without credentials, the Authorization header, TLS files read. */
export interface RegistryConnection {
  readonly url: string
  readonly authorization: string | null
  readonly tls: TlsMaterial | null
}

/**
 * Moves URL userinfo into an Authorization header (fetch refuses URLs with credentials, and the
 * URL is printed in logs), and checks that only one kind of credential is given.
 */
export function resolveRegistryConnection(settings: RegistrySettings & { url: string }): RegistryConnection {
  let parsed: URL
  try {
    parsed = new URL(settings.url)
  } catch (cause) {
    throw new ConfigError('registry.url (SCHEMA_REGISTRY_URL) is not a URL', { cause })
  }
  const urlUser = decodeURIComponent(parsed.username)
  const urlPassword = decodeURIComponent(parsed.password)
  parsed.username = ''
  parsed.password = ''
  const username = settings.username ?? (urlUser === '' ? undefined : urlUser)
  const password = settings.password ?? (urlPassword === '' ? undefined : urlPassword)
  rememberSecret(password)
  rememberSecret(settings.token)
  if (settings.token !== undefined && username !== undefined) {
    throw new ConfigError(
      'registry.token and registry.username are both set: use basic auth or a bearer token, not both',
    )
  }
  if (username !== undefined && password === undefined) {
    throw new ConfigError(
      'registry.username is set without registry.password (SCHEMA_REGISTRY_PASSWORD, or user:password@ in the URL)',
    )
  }
  const authorization =
    settings.token !== undefined
      ? `Bearer ${settings.token}`
      : username !== undefined
        ? `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
        : null
  rememberSecret(authorization)
  return Object.freeze({
    url: parsed.href.replace(/\/+$/, ''),
    authorization,
    tls: settings.ssl === undefined ? null : loadTls(settings.ssl, 'registry.ssl'),
  })
}
