import { request as httpRequest } from 'node:http'
import { Agent, request as httpsRequest } from 'node:https'
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry'
import type { Compatibility } from '../catalog/types.js'
import { type RegistryConnection, resolveRegistryConnection } from '../connect/registry-auth.js'
import { tlsFailureCode, tlsFix } from '../connect/tls.js'
import { ConnectionSecurityError, SchemaError, UnavailableError } from '../errors.js'

/** What Postbox needs from a Confluent-compatible schema registry. */
export interface RegistryClient {
  /** Id of `schemaText` under `subject`, registering it (with the subject's compatibility) when allowed. */
  resolveSchemaId(
    subject: string,
    schemaText: string,
    options: { compatibility: Compatibility; autoRegister: boolean },
  ): Promise<number>
  /** The newest version of a subject, or null when the subject does not exist. */
  latest(subject: string): Promise<{ id: number; version: number; schema: string } | null>
  /** Every version of a subject, oldest first (empty when the subject does not exist). */
  versions(subject: string): Promise<{ id: number; version: number; schema: string }[]>
  /** Id and version under which `schemaText` is registered in `subject`, or null when it is not. */
  lookup(subject: string, schemaText: string): Promise<{ id: number; version: number } | null>
  /** Whether `schemaText` may be registered under `subject` by the subject's rule. */
  isCompatible(subject: string, schemaText: string): Promise<{ compatible: boolean; messages: string[] }>
  /** Decodes a Confluent wire-format frame through the registry (for consumers and tests). */
  decode(frame: Buffer): Promise<unknown>
  /** Subject compatibility, or the global one when the subject has none. */
  compatibility(subject: string): Promise<string | null>
  setCompatibility(subject: string, compatibility: Compatibility): Promise<void>
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status
  return typeof status === 'number' ? status : undefined
}

/**
 * Apicurio answers 409 to a PUT of `/config/<subject>` when another client created the subject's
 * compatibility rule first; a 409 from registering itself is an incompatible schema.
 */
function isRuleConflict(error: unknown): boolean {
  const url = (error as { url?: unknown } | null)?.url
  return statusOf(error) === 409 && typeof url === 'string' && url.includes('/config/')
}

/** Why registering `subject` failed, as the error a user can act on. */
function registrationFailed(subject: string, compatibility: Compatibility, error: unknown): never {
  if (statusOf(error) === 409 && !isRuleConflict(error)) {
    throw new SchemaError(
      `schema for ${subject} is not ${compatibility}-compatible with the registered versions: make the change compatible (e.g. add fields with defaults) or use a new topic`,
      { cause: error },
    )
  }
  translate(error, `registering ${subject}`)
}

const CREDENTIAL_SETTINGS =
  'registry.username / registry.password (SCHEMA_REGISTRY_USERNAME, SCHEMA_REGISTRY_PASSWORD, or user:password@ in the URL) or registry.token (SCHEMA_REGISTRY_TOKEN)'

/** 401/403 and an untrusted certificate: no retry fixes them, so they stop the relay's start-up. */
function refusal(status: number | undefined, error: unknown): ConnectionSecurityError | null {
  if (status === 401) {
    return new ConnectionSecurityError(
      'registry',
      `the schema registry rejected the credentials (HTTP 401): check ${CREDENTIAL_SETTINGS}`,
      { cause: error },
    )
  }
  if (status === 403) {
    return new ConnectionSecurityError(
      'registry',
      `the schema registry denied access (HTTP 403): give these credentials access, or check ${CREDENTIAL_SETTINGS}`,
      { cause: error },
    )
  }
  const tls = tlsFailureCode(error)
  return tls === null
    ? null
    : new ConnectionSecurityError(
        'registry',
        tlsFix(tls, {
          ca: 'registry.ssl.ca (SCHEMA_REGISTRY_CA)',
          host: 'registry.url (SCHEMA_REGISTRY_URL)',
          clientCertificate:
            'registry.ssl.cert and registry.ssl.key (SCHEMA_REGISTRY_CERT, SCHEMA_REGISTRY_KEY)',
        }),
        { cause: error },
      )
}

/** Network failures and 5xx are worth retrying; everything else is a verdict. */
function translate(error: unknown, what: string): never {
  const status = statusOf(error)
  const refused = refusal(status, error)
  if (refused !== null) throw refused
  if (status === undefined || status >= 500) {
    throw new UnavailableError('registry', `${what} failed`, { cause: error })
  }
  throw new SchemaError(`${what} failed (HTTP ${status})`, { cause: error })
}

/**
 * The registry client library sets no timeout of its own: a request that never gets an answer
 * (a half-open connection) must fail, retriably, instead of holding start-up for ever.
 */
async function answered<T>(call: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new UnavailableError('registry', `${what}: no answer within 15 s`)),
      15_000,
    )
  })
  try {
    return await Promise.race([call, expired])
  } finally {
    clearTimeout(timer)
  }
}

/** One HTTP(S) request with a 10 s timeout; resolves with the status and body text. */
function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  agent: Agent | undefined,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest
    const req = request(url, { method, headers, agent, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
      )
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer within 10 s`)))
    req.on('error', reject)
    req.end(body)
  })
}

/**
 * A registry client for `connection`: a URL (userinfo in it becomes basic auth), or a resolved
 * connection with credentials and TLS files (registry settings of the config).
 */
export function createRegistryClient(connection: string | RegistryConnection): RegistryClient {
  const { url, authorization, tls } =
    typeof connection === 'string' ? resolveRegistryConnection({ url: connection }) : connection
  const base = url.replace(/\/+$/, '')
  const agent =
    tls === null ? undefined : new Agent({ ...tls, ca: tls.ca === undefined ? undefined : [...tls.ca] })
  const authHeaders: Record<string, string> = authorization === null ? {} : { authorization }
  const registry = new SchemaRegistry({
    host: base,
    retry: { retries: 0 },
    ...(agent === undefined ? {} : { agent }),
    middlewares: [
      () => ({
        prepareRequest: (next) => next().then((request) => request.enhance({ headers: authHeaders })),
      }),
    ],
  })

  const http = async (
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; data: unknown }> => {
    let response: { status: number; text: string }
    try {
      response = await send(
        new URL(`${base}${path}`),
        method,
        { 'content-type': 'application/vnd.schemaregistry.v1+json', ...authHeaders },
        body === undefined ? undefined : JSON.stringify(body),
        agent,
      )
    } catch (cause) {
      throw (
        refusal(undefined, cause) ??
        new UnavailableError('registry', `${method} ${base}${path} failed`, { cause })
      )
    }
    const refused = refusal(response.status, null)
    if (refused !== null) throw refused
    const { text } = response
    if (response.status >= 500) {
      throw new UnavailableError('registry', `${method} ${path} answered ${response.status}: ${text}`)
    }
    let data: unknown
    try {
      data = text === '' ? null : JSON.parse(text)
    } catch (cause) {
      throw new UnavailableError('registry', `${method} ${path} answered ${response.status} with no JSON`, {
        cause,
      })
    }
    return { status: response.status, data }
  }

  /** After another client created the subject's rule first: fine when it set the level we ask for. */
  const agreeOnCompatibility = async (subject: string, compatibility: Compatibility, cause: unknown) => {
    const level = await client.compatibility(subject)
    if (level !== compatibility) {
      throw new SchemaError(
        `another client set the compatibility of ${subject} to ${level} while this one set ${compatibility}: give every event of ${subject} the same compatibility`,
        { cause },
      )
    }
  }

  const client: RegistryClient = {
    async compatibility(subject) {
      const subjectConfig = await http('GET', `/config/${encodeURIComponent(subject)}`)
      const level = (subjectConfig.data as { compatibilityLevel?: string } | null)?.compatibilityLevel
      if (subjectConfig.status === 200 && level) return level.toUpperCase()
      const global = await http('GET', '/config')
      return (
        (global.data as { compatibilityLevel?: string } | null)?.compatibilityLevel?.toUpperCase() ?? null
      )
    },

    async setCompatibility(subject, compatibility) {
      const result = await http('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility })
      if (result.status === 409) return agreeOnCompatibility(subject, compatibility, result.data)
      if (result.status >= 300) {
        throw new SchemaError(
          `setting compatibility ${compatibility} on ${subject} failed: ${JSON.stringify(result.data)}`,
        )
      }
    },

    async resolveSchemaId(subject, schemaText, { compatibility, autoRegister }) {
      const schema = { type: SchemaType.AVRO, schema: schemaText } as const
      if (!autoRegister) {
        try {
          return await answered(registry.getRegistryIdBySchema(subject, schema), `looking up ${subject}`)
        } catch (error) {
          if (statusOf(error) === 404 || (error instanceof Error && /not found/i.test(error.message))) {
            throw new SchemaError(
              `schema for ${subject} is not registered: run \`postbox schemas register\` or set autoRegister: true`,
              { cause: error },
            )
          }
          translate(error, `looking up ${subject}`)
        }
      }
      // The client refuses to register when the subject's level differs from the one asked for,
      // so set the event's level first (a new subject reports the global level).
      if ((await client.compatibility(subject)) !== compatibility) {
        await client.setCompatibility(subject, compatibility)
      }
      const register = () =>
        answered(
          registry.register(schema, { subject, compatibility: compatibility as never }),
          `registering ${subject}`,
        ).then(({ id }) => id)
      try {
        return await register()
      } catch (error) {
        if (!isRuleConflict(error)) registrationFailed(subject, compatibility, error)
        await agreeOnCompatibility(subject, compatibility, error)
      }
      // The conflict came after the schema was registered: registering again returns its id, and
      // with the subject's rule in place the client writes none.
      return register().catch((error: unknown) => registrationFailed(subject, compatibility, error))
    },

    async latest(subject) {
      const result = await http('GET', `/subjects/${encodeURIComponent(subject)}/versions/latest`)
      if (result.status === 404) return null
      const data = result.data as { id: number; version: number; schema: string }
      return { id: data.id, version: data.version, schema: data.schema }
    },

    async versions(subject) {
      const list = await http('GET', `/subjects/${encodeURIComponent(subject)}/versions`)
      if (list.status === 404) return []
      if (list.status >= 300 || !Array.isArray(list.data)) {
        throw new SchemaError(`listing the versions of ${subject} failed: ${JSON.stringify(list.data)}`)
      }
      const out: { id: number; version: number; schema: string }[] = []
      for (const version of list.data as number[]) {
        const one = await http('GET', `/subjects/${encodeURIComponent(subject)}/versions/${version}`)
        const data = one.data as { id: number; version: number; schema: string }
        out.push({ id: data.id, version: data.version, schema: data.schema })
      }
      return out
    },

    async lookup(subject, schemaText) {
      const result = await http('POST', `/subjects/${encodeURIComponent(subject)}`, { schema: schemaText })
      if (result.status === 404) return null
      const data = result.data as { id?: number; version?: number } | null
      if (result.status >= 300 || typeof data?.id !== 'number' || typeof data.version !== 'number') {
        throw new SchemaError(`looking up the schema in ${subject} failed: ${JSON.stringify(result.data)}`)
      }
      return { id: data.id, version: data.version }
    },

    async isCompatible(subject, schemaText) {
      const result = await http(
        'POST',
        `/compatibility/subjects/${encodeURIComponent(subject)}/versions/latest?verbose=true`,
        { schema: schemaText },
      )
      if (result.status === 404) return { compatible: true, messages: ['subject does not exist yet'] }
      const data = result.data as { is_compatible?: boolean; messages?: string[] } | null
      if (result.status >= 300 || typeof data?.is_compatible !== 'boolean') {
        throw new SchemaError(`compatibility check for ${subject} failed: ${JSON.stringify(result.data)}`)
      }
      return { compatible: data.is_compatible, messages: data.messages ?? [] }
    },

    async decode(frame) {
      try {
        return await answered(registry.decode(frame), 'decoding a record')
      } catch (error) {
        translate(error, 'decoding a message')
      }
    },
  }
  return client
}
