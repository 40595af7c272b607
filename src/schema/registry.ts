import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry'
import type { Compatibility } from '../catalog/types.js'
import { SchemaError, UnavailableError } from '../errors.js'

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

/** Network failures and 5xx are worth retrying; everything else is a verdict. */
function translate(error: unknown, what: string): never {
  const status = statusOf(error)
  if (status === undefined || status >= 500) {
    throw new UnavailableError('registry', `${what} failed`, { cause: error })
  }
  throw new SchemaError(`${what} failed (HTTP ${status})`, { cause: error })
}

export function createRegistryClient(url: string): RegistryClient {
  const base = url.replace(/\/+$/, '')
  const registry = new SchemaRegistry({ host: base, retry: { retries: 0 } })

  const http = async (
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; data: unknown }> => {
    let response: Response
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      })
    } catch (cause) {
      throw new UnavailableError('registry', `${method} ${base}${path} failed`, { cause })
    }
    const text = await response.text()
    const data: unknown = text === '' ? null : JSON.parse(text)
    if (response.status >= 500) {
      throw new UnavailableError('registry', `${method} ${path} answered ${response.status}: ${text}`)
    }
    return { status: response.status, data }
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
          return await registry.getRegistryIdBySchema(subject, schema)
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
      try {
        const { id } = await registry.register(schema, { subject, compatibility: compatibility as never })
        return id
      } catch (error) {
        if (statusOf(error) === 409) {
          throw new SchemaError(
            `schema for ${subject} is not ${compatibility}-compatible with the registered versions: make the change compatible (e.g. add fields with defaults) or use a new topic`,
            { cause: error },
          )
        }
        translate(error, `registering ${subject}`)
      }
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
        return await registry.decode(frame)
      } catch (error) {
        translate(error, 'decoding a message')
      }
    },
  }
  return client
}
