import { ConfigError } from '../errors.js'
import { rememberSecret } from '../redact.js'
import { loadTls, type TlsFileSettings, type TlsMaterial } from './tls.js'

export type SaslPasswordMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512'

/** SASL as users write it; mechanism names are case-insensitive ("SCRAM-SHA-512" works). */
export type KafkaSaslSettings =
  | {
      mechanism: SaslPasswordMechanism | Uppercase<SaslPasswordMechanism>
      username: string
      password: string
    }
  | {
      mechanism: 'oauthbearer' | 'OAUTHBEARER'
      /** Returns a current token; called at every (re)authentication (config file only). */
      tokenProvider: () => Promise<string>
    }

/** `kafka.ssl` / `kafka.sasl` in the config file (KAFKA_SSL*, KAFKA_SASL* in the environment). */
export interface KafkaSecuritySettings {
  /** true: TLS with Node's default CAs; an object: TLS with these files. Default off. */
  ssl?: boolean | TlsFileSettings
  sasl?: KafkaSaslSettings
}

export type KafkaSasl =
  | { readonly mechanism: SaslPasswordMechanism; readonly username: string; readonly password: string }
  | { readonly mechanism: 'oauthbearer'; readonly tokenProvider: () => Promise<string> }

/** Resolved Kafka security: TLS files read, secrets remembered for redaction. */
export interface KafkaSecurity {
  readonly tls: TlsMaterial | null
  readonly sasl: KafkaSasl | null
}

export const NO_KAFKA_SECURITY: KafkaSecurity = Object.freeze({ tls: null, sasl: null })

const PASSWORD_MECHANISMS: readonly string[] = ['plain', 'scram-sha-256', 'scram-sha-512']

function resolveSasl(sasl: KafkaSaslSettings): KafkaSasl {
  const mechanism = String(sasl.mechanism).toLowerCase()
  if (mechanism === 'oauthbearer') {
    const provider = (sasl as { tokenProvider?: unknown }).tokenProvider
    if (typeof provider !== 'function') {
      throw new ConfigError(
        'kafka.sasl.tokenProvider must be a function returning a token for OAUTHBEARER (set it in the config file)',
      )
    }
    const tokenProvider = provider as () => Promise<string>
    return Object.freeze({
      mechanism: 'oauthbearer',
      tokenProvider: async () => {
        const token = await tokenProvider()
        rememberSecret(token)
        return token
      },
    })
  }
  if (!PASSWORD_MECHANISMS.includes(mechanism)) {
    throw new ConfigError(
      `kafka.sasl.mechanism "${String(sasl.mechanism)}" is not supported: use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (KAFKA_SASL_MECHANISM)`,
    )
  }
  const { username, password } = sasl as { username?: unknown; password?: unknown }
  if (typeof username !== 'string' || username === '' || typeof password !== 'string' || password === '') {
    throw new ConfigError(
      `kafka.sasl.username and kafka.sasl.password must be set for ${mechanism.toUpperCase()} (KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD)`,
    )
  }
  rememberSecret(password)
  return Object.freeze({ mechanism: mechanism as SaslPasswordMechanism, username, password })
}

/** Validates Kafka security settings and reads their certificate files. */
export function resolveKafkaSecurity(settings: KafkaSecuritySettings | undefined): KafkaSecurity {
  const ssl = settings?.ssl
  const tls = ssl === undefined || ssl === false ? null : loadTls(ssl === true ? {} : ssl, 'kafka.ssl')
  const sasl = settings?.sasl === undefined ? null : resolveSasl(settings.sasl)
  return Object.freeze({ tls, sasl })
}
