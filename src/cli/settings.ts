import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { PostboxSettings } from '../config.js'
import { parseLogLevel, parseSettings } from '../config-schema.js'
import { type ConnectionEnvironment, withConnectionEnvironment } from '../connect/environment.js'
import { ConfigError } from '../errors.js'

/** The environment variables the CLI honours, read by bin/ and passed down. */
export interface CliEnvironment extends ConnectionEnvironment {
  DATABASE_URL?: string
  KAFKA_BROKERS?: string
  SCHEMA_REGISTRY_URL?: string
  POSTBOX_SCHEMA?: string
  POSTBOX_CONFIG?: string
  LOG_LEVEL?: string
}

const DEFAULT_CONFIG_FILES = ['postbox.config.ts', 'postbox.config.mjs', 'postbox.config.js']

async function importConfig(path: string): Promise<unknown> {
  const url = pathToFileURL(path).href
  if (path.endsWith('.ts') || path.endsWith('.mts')) {
    let tsImport: (specifier: string, parent: string) => Promise<unknown>
    try {
      ;({ tsImport } = (await import('tsx/esm/api')) as { tsImport: typeof tsImport })
    } catch (cause) {
      throw new ConfigError(
        `loading ${path} needs the "tsx" package: npm i -D tsx, or write the config as .mjs`,
        { cause },
      )
    }
    return tsImport(url, import.meta.url)
  }
  return import(url)
}

/** Loads and checks the config file (if any), then lays the environment's connection settings over it. */
export async function loadSettings(
  env: CliEnvironment,
  configPath: string | undefined,
  options: { requireEvents: boolean },
): Promise<PostboxSettings> {
  const explicit = configPath ?? env.POSTBOX_CONFIG
  const path = explicit === undefined ? DEFAULT_CONFIG_FILES.find((f) => existsSync(f)) : explicit
  let fromFile: PostboxSettings = { events: [] }
  if (path !== undefined) {
    const absolute = resolve(path)
    if (!existsSync(absolute)) throw new ConfigError(`config file ${path} does not exist`)
    const module = (await importConfig(absolute)) as { default?: unknown }
    const value = (module.default as { default?: unknown } | undefined)?.default ?? module.default
    if (typeof value !== 'object' || value === null) {
      throw new ConfigError(`${path} must \`export default\` the settings object ({ events, ... })`)
    }
    fromFile = parseSettings({ events: [], ...value }, path)
  } else if (options.requireEvents) {
    throw new ConfigError(
      `no config file: pass --config <file> or create ${DEFAULT_CONFIG_FILES.join(' / ')} exporting { events }`,
    )
  }
  return withConnectionEnvironment(
    {
      ...fromFile,
      databaseUrl: env.DATABASE_URL || fromFile.databaseUrl,
      schema: env.POSTBOX_SCHEMA || fromFile.schema,
      logLevel: env.LOG_LEVEL ? parseLogLevel(env.LOG_LEVEL, 'LOG_LEVEL') : fromFile.logLevel,
      kafka: { ...fromFile.kafka, brokers: env.KAFKA_BROKERS || fromFile.kafka?.brokers },
      registry: { ...fromFile.registry, url: env.SCHEMA_REGISTRY_URL || fromFile.registry?.url },
    },
    env,
  )
}
