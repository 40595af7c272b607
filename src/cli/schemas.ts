import { readFileSync, writeFileSync } from 'node:fs'
import type { Command } from 'commander'
import type { AnyEventDefinition } from '../catalog/define-event.js'
import type { AvroSchema, Compatibility } from '../catalog/types.js'
import { registryConnectionOf, resolveConnection } from '../config.js'
import { ConfigError, describeError } from '../errors.js'
import { type AvroCodec, compileSchema } from '../schema/codec.js'
import { createRegistryClient, type RegistryClient } from '../schema/registry.js'
import { typescriptForSchemas } from '../schema/typescript.js'
import { COMPATIBILITY_FIX, compatibilityProblems } from './compatibility.js'
import { table } from './io.js'
import { printJson } from './json-output.js'
import type { CommandRuntime } from './runtime.js'
import { USAGE_HINT } from './usage-error.js'

/** One schema the catalog publishes under one subject (value or key). */
interface LocalSubject {
  subject: string
  codec: AvroCodec
  compatibility: Compatibility
  eventTypes: string[]
}

interface SubjectCheck {
  subject: string
  eventTypes: string[]
  compatibility: Compatibility
  status: 'new' | 'registered' | 'compatible' | 'incompatible'
  /** The registry's latest version, when the subject exists. */
  latestVersion: number | null
  problems: string[]
  notes: string[]
}

function localSubjects(events: readonly AnyEventDefinition[]): LocalSubject[] {
  const bySubject = new Map<string, LocalSubject>()
  const add = (subject: string, codec: AvroCodec, event: AnyEventDefinition) => {
    const id = `${subject}\u0000${codec.schemaText}`
    const known = bySubject.get(id)
    if (known === undefined) {
      bySubject.set(id, { subject, codec, compatibility: event.compatibility, eventTypes: [event.type] })
    } else known.eventTypes.push(event.type)
  }
  for (const event of events) {
    add(event.subject, event.valueCodec, event)
    if (event.keySubject !== undefined && event.keyCodec !== undefined)
      add(event.keySubject, event.keyCodec, event)
  }
  return [...bySubject.values()]
}

async function checkSubject(registry: RegistryClient, local: LocalSubject): Promise<SubjectCheck> {
  const { subject, codec, compatibility } = local
  const result: SubjectCheck = {
    subject,
    eventTypes: local.eventTypes,
    compatibility,
    status: 'compatible',
    latestVersion: null,
    problems: [],
    notes: [],
  }
  const latest = await registry.latest(subject)
  if (latest === null) return { ...result, status: 'new' }
  result.latestVersion = latest.version
  const registered = await registry.lookup(subject, codec.schemaText)
  if (registered !== null)
    return { ...result, status: 'registered', notes: [`id ${registered.id}, version ${registered.version}`] }

  // Judged by the event's own level, which `register` and the relay set on the subject.
  const against = compatibility.endsWith('_TRANSITIVE') ? await registry.versions(subject) : [latest]
  result.problems = compatibilityProblems(
    codec,
    against.map((v) => ({ version: v.version, codec: compileSchema(JSON.parse(v.schema)) })),
    compatibility,
  )
  const registryLevel = await registry.compatibility(subject)
  if (registryLevel === compatibility) {
    const verdict = await registry.isCompatible(subject, codec.schemaText)
    if (!verdict.compatible && result.problems.length === 0) {
      result.problems.push(
        `the registry rejects it under ${compatibility}${verdict.messages.length > 0 ? `: ${verdict.messages.join('; ')}` : ''}`,
      )
    }
  } else {
    result.notes.push(
      `the registry has ${registryLevel ?? 'no level'} for this subject; register sets ${compatibility}`,
    )
  }
  return { ...result, status: result.problems.length > 0 ? 'incompatible' : 'compatible' }
}

function readSchemaFile(file: string): { schema: AvroSchema; source: string } {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (cause) {
    throw new ConfigError(`cannot read ${file}: ${describeError(cause)}`, { cause })
  }
  try {
    return { schema: JSON.parse(text) as AvroSchema, source: file }
  } catch (cause) {
    throw new ConfigError(
      `${file} is not JSON (an .avsc file holds one Avro schema): ${describeError(cause)}`,
      {
        cause,
      },
    )
  }
}

function eventsOf(events: readonly AnyEventDefinition[]): readonly AnyEventDefinition[] {
  if (events.length === 0) {
    throw new ConfigError('the config file lists no events: export { events: [...] } made with defineEvent()')
  }
  return events
}

export function register(program: Command, run: CommandRuntime): void {
  const schemas = program
    .command('schemas')
    .showHelpAfterError(USAGE_HINT)
    .summary("check or register the catalog's Avro schemas; write TypeScript types for .avsc files")
    .description(
      "The catalog's Avro schemas against the schema registry (subjects <topic>-value and <topic>-key).",
    )

  schemas
    .command('check')
    .summary("check each event's schema against the registry (exit 1 when incompatible)")
    .description(
      "Check each event's local schema against the registry's versions of its subject, by the event's " +
        'compatibility level (BACKWARD by default; *_TRANSITIVE levels check every version). Changes ' +
        'nothing. Exit 0 when every subject is new, already registered or compatible; 1 when any is ' +
        'incompatible, with the reason and a fix on stderr.',
    )
    .option('--json', 'machine-readable output: { "version", "subjects": [one entry per subject] }')
    .addHelpText(
      'after',
      '\nExample (CI, before deploying a mapping change):\n  postbox schemas check --config postbox.config.ts',
    )
    .action(
      run.action(async (opts: { json?: boolean }) => {
        const settings = await run.settings({ requireEvents: true })
        const registry = createRegistryClient(registryConnectionOf(settings, resolveConnection(settings)))
        const results: SubjectCheck[] = []
        for (const local of localSubjects(eventsOf(settings.events as readonly AnyEventDefinition[]))) {
          results.push(await checkSubject(registry, local))
        }
        const incompatible = results.filter((r) => r.status === 'incompatible')
        if (opts.json === true) {
          printJson(run.io, { subjects: results })
        } else {
          run.io.out(
            table(
              ['subject', 'level', 'result', 'detail'],
              results.map((r) => [
                r.subject,
                r.compatibility,
                r.status === 'incompatible' ? 'INCOMPATIBLE' : r.status,
                [
                  r.latestVersion === null ? 'not in the registry yet' : `latest version ${r.latestVersion}`,
                  ...r.notes,
                ].join('; '),
              ]),
            ),
          )
          for (const r of incompatible) {
            run.io.err(
              `${r.subject} is not ${r.compatibility}-compatible: ${r.problems.join('; ')}. ` +
                `Fix: ${COMPATIBILITY_FIX[r.compatibility]}, or publish the change under a new topic`,
            )
          }
        }
        return incompatible.length > 0 ? 1 : 0
      }),
    )

  schemas
    .command('register')
    .summary("register every event's schema and print subject → id, version")
    .description(
      "Register every event's schema under its subject (setting the subject to the event's " +
        'compatibility level first) and print subject → id and version. Registering a schema that is ' +
        'already there is a no-op.',
    )
    .option('--json', 'machine-readable output: { "version", "subjects": [one entry per subject] }')
    .addHelpText(
      'after',
      '\nExample (deploy step when relays run with autoRegister: false):\n  postbox schemas register',
    )
    .action(
      run.action(async (opts: { json?: boolean }) => {
        const settings = await run.settings({ requireEvents: true })
        const registry = createRegistryClient(registryConnectionOf(settings, resolveConnection(settings)))
        const results: {
          subject: string
          id: number | null
          version: number | null
          error: string | null
        }[] = []
        for (const local of localSubjects(eventsOf(settings.events as readonly AnyEventDefinition[]))) {
          try {
            const id = await registry.resolveSchemaId(local.subject, local.codec.schemaText, {
              compatibility: local.compatibility,
              autoRegister: true,
            })
            const found = await registry.lookup(local.subject, local.codec.schemaText)
            results.push({ subject: local.subject, id, version: found?.version ?? null, error: null })
          } catch (error) {
            results.push({ subject: local.subject, id: null, version: null, error: describeError(error) })
          }
        }
        const failed = results.filter((r) => r.error !== null)
        if (opts.json === true) {
          printJson(run.io, { subjects: results })
        } else {
          for (const r of results) {
            if (r.error === null) run.io.out(`${r.subject} → id ${r.id}, version ${r.version ?? '?'}`)
          }
          for (const r of failed) run.io.err(`${r.subject}: ${r.error}`)
        }
        return failed.length > 0 ? 1 : 0
      }),
    )

  schemas
    .command('types')
    .summary('write TypeScript types for the records of .avsc files')
    .description(
      'Write TypeScript declarations of the values Postbox encodes for each schema (records, enums, ' +
        'fixed; logical types as the JavaScript values they accept; fields with a default optional), ' +
        "so that toExternal's return type is checked at compile time. Needs no config, database or registry.",
    )
    .argument('<files...>', 'Avro schema files (.avsc, JSON)')
    .option('-o, --out <file>', 'write to this file instead of stdout')
    .addHelpText(
      'after',
      '\nExample:\n  postbox schemas types schemas/order-changed.avsc --out src/events/order-changed.types.ts\n' +
        '  then: defineEvent<OrderRow, OrderChanged>({ ..., toExternal: (o) => ({ ... }) })',
    )
    .action(
      run.action(async (files: string[], opts: { out?: string }) => {
        const source = typescriptForSchemas(files.map(readSchemaFile))
        if (opts.out === undefined) {
          run.io.out(source.trimEnd())
        } else {
          writeFileSync(opts.out, source)
          run.io.err(`wrote ${opts.out}`)
        }
        return 0
      }),
    )
}
