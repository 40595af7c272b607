import type { AvroSchema } from '../catalog/types.js'
import { ConfigError } from '../errors.js'

// TypeScript types of the values Postbox encodes for an Avro schema: what `toExternal` may
// return. Logical types take the values the codec accepts (src/schema/logical-values.ts), a
// field with a default may be left out, and an ambiguous union takes avsc's wrapped form.

const LOGICAL_INPUT: Readonly<Record<string, string>> = {
  'timestamp-millis': 'Date | string | number | bigint',
  'timestamp-micros': 'Date | string | number | bigint',
  date: 'Date | string | number',
  'time-millis': 'Date | string | number',
  decimal: 'string | number | bigint | Buffer',
  uuid: 'string',
}

const PRIMITIVES: Readonly<Record<string, string>> = {
  null: 'null',
  boolean: 'boolean',
  int: 'number',
  long: 'number',
  float: 'number',
  double: 'number',
  bytes: 'Buffer',
  string: 'string',
}

/** The union branch buckets avsc tells apart without wrapping (wrapUnions: 'auto'). */
const BUCKETS: Readonly<Record<string, string>> = {
  int: 'number',
  long: 'number',
  float: 'number',
  double: 'number',
  bytes: 'buffer',
  fixed: 'buffer',
  enum: 'string',
  string: 'string',
  map: 'object',
  record: 'object',
  error: 'object',
}

type Node = Readonly<Record<string, unknown>>

interface Named {
  /** Full Avro name (namespace.name). */
  fullName: string
  /** The TypeScript name: the short Avro name. */
  tsName: string
  /** Bucket of the named type, for unions that refer to it. */
  avroType: string
}

export class TypeScriptWriter {
  private readonly named = new Map<string, Named>()
  private readonly declarations: string[] = []

  /** Adds the declarations of one schema (and the named types inside it). Returns the top type's name. */
  add(schema: AvroSchema, where: string): string {
    return this.typeOf(schema, undefined, where)
  }

  source(header: string): string {
    return `${header}\n\n${this.declarations.join('\n\n')}\n`
  }

  private typeOf(schema: unknown, namespace: string | undefined, where: string): string {
    if (typeof schema === 'string') {
      const primitive = PRIMITIVES[schema]
      if (primitive !== undefined) return primitive
      const found = this.lookup(schema, namespace)
      if (found === undefined) throw new ConfigError(`${where}: unknown Avro type "${schema}"`)
      return found.tsName
    }
    if (Array.isArray(schema)) return this.unionOf(schema, namespace, where)
    if (schema === null || typeof schema !== 'object') {
      throw new ConfigError(`${where}: not an Avro schema: ${JSON.stringify(schema)}`)
    }
    const node = schema as Node
    const logical = typeof node.logicalType === 'string' ? LOGICAL_INPUT[node.logicalType] : undefined
    const type = node.type
    if (logical !== undefined && !(node.logicalType === 'decimal' && type === 'fixed')) return logical
    switch (type) {
      case 'record':
      case 'error':
        return this.recordOf(node, namespace, where)
      case 'enum':
        return this.declare(node, namespace, (name) => {
          const symbols = (node.symbols as unknown[]).map((s) => JSON.stringify(s)).join(' | ')
          return `export type ${name} = ${symbols}`
        })
      case 'fixed': {
        const name = this.declare(node, namespace, (n) => `export type ${n} = Buffer`)
        return logical ?? name
      }
      case 'array':
        return `readonly ${this.wrapped(this.typeOf(node.items, namespace, where))}[]`
      case 'map':
        return `{ readonly [key: string]: ${this.typeOf(node.values, namespace, where)} }`
      default:
        return this.typeOf(type, namespace, where)
    }
  }

  private recordOf(node: Node, namespace: string | undefined, where: string): string {
    const fields = Array.isArray(node.fields) ? (node.fields as Node[]) : []
    return this.declare(node, namespace, (name, inner) => {
      const lines = fields.map((field) => {
        const optional = 'default' in field ? '?' : ''
        const doc = typeof field.doc === 'string' ? `  /** ${field.doc.replaceAll('*/', '* /')} */\n` : ''
        const fieldType = this.typeOf(field.type, inner, `${where}: field ${String(field.name)}`)
        return `${doc}  readonly ${JSON.stringify(field.name)}${optional}: ${fieldType}`
      })
      return `export interface ${name} {\n${lines.join('\n')}\n}`
    })
  }

  private unionOf(branches: readonly unknown[], namespace: string | undefined, where: string): string {
    const buckets = branches.map((b) => this.bucketOf(b, namespace))
    const ambiguous = new Set(buckets).size < buckets.length
    return branches
      .map((branch) => {
        const type = this.typeOf(branch, namespace, where)
        // avsc wraps every branch of an ambiguous union but null: { "<branch name>": value }.
        if (!ambiguous || type === 'null') return type
        return `{ readonly ${JSON.stringify(this.branchName(branch, namespace))}: ${type} }`
      })
      .join(' | ')
  }

  private bucketOf(branch: unknown, namespace: string | undefined): string {
    const node =
      typeof branch === 'object' && branch !== null && !Array.isArray(branch) ? (branch as Node) : null
    if (
      node !== null &&
      typeof node.logicalType === 'string' &&
      LOGICAL_INPUT[node.logicalType] !== undefined
    ) {
      return `logical:${node.logicalType}`
    }
    const typeName = node === null ? String(branch) : String(node.type)
    const avroType = this.lookup(typeName, namespace)?.avroType ?? typeName
    return BUCKETS[avroType] ?? avroType
  }

  private branchName(branch: unknown, namespace: string | undefined): string {
    if (typeof branch === 'string') return this.lookup(branch, namespace)?.fullName ?? branch
    const node = branch as Node
    if (typeof node.name === 'string') return fullNameOf(node, namespace)
    return String(node.type)
  }

  private declare(
    node: Node,
    namespace: string | undefined,
    body: (tsName: string, innerNamespace: string | undefined) => string,
  ): string {
    const fullName = fullNameOf(node, namespace)
    const short = fullName.slice(fullName.lastIndexOf('.') + 1)
    const tsName = short.charAt(0).toUpperCase() + short.slice(1)
    const existing = [...this.named.values()].find((n) => n.tsName === tsName && n.fullName !== fullName)
    if (existing !== undefined) {
      throw new ConfigError(
        `two Avro types map to the TypeScript name ${tsName}: ${existing.fullName} and ${fullName}`,
      )
    }
    if (this.named.has(fullName)) return tsName
    this.named.set(fullName, { fullName, tsName, avroType: String(node.type) })
    const inner = fullName.includes('.') ? fullName.slice(0, fullName.lastIndexOf('.')) : undefined
    this.declarations.push(body(tsName, inner))
    return tsName
  }

  private lookup(name: string, namespace: string | undefined): Named | undefined {
    return (
      this.named.get(name) ?? (namespace === undefined ? undefined : this.named.get(`${namespace}.${name}`))
    )
  }

  private wrapped(type: string): string {
    return /[|&]/.test(type) ? `(${type})` : type
  }
}

function fullNameOf(node: Node, namespace: string | undefined): string {
  const name = String(node.name)
  if (name.includes('.')) return name
  const ns = typeof node.namespace === 'string' ? node.namespace : namespace
  return ns === undefined || ns === '' ? name : `${ns}.${name}`
}

/** TypeScript declarations for the records of the given schemas, as one module's source. */
export function typescriptForSchemas(schemas: readonly { schema: AvroSchema; source: string }[]): string {
  const writer = new TypeScriptWriter()
  for (const { schema, source } of schemas) writer.add(schema, source)
  return writer.source(
    `// Generated by \`postbox schemas types\` from ${schemas.map((s) => s.source).join(', ')}.\n` +
      '// The values Postbox encodes for these schemas: annotate toExternal with them. Do not edit.',
  )
}
