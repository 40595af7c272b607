import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { runPostbox } from '../support/cli.js'

const run = promisify(execFile)
const repo = resolve('.')

const orderSchema = {
  type: 'record',
  name: 'OrderChanged',
  namespace: 'shop.orders',
  fields: [
    { name: 'orderId', type: 'string' },
    { name: 'customer', type: 'string', doc: 'customer reference' },
    { name: 'totalCents', type: 'long' },
    { name: 'placedAt', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'amount', type: { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 } },
    { name: 'status', type: { type: 'enum', name: 'Status', symbols: ['NEW', 'PAID'] } },
    { name: 'tags', type: { type: 'array', items: 'string' }, default: [] },
    { name: 'note', type: ['null', 'string'], default: null },
  ],
}

/** A project of a user's: postbox resolved from this package, @types/node from its dependencies. */
async function userProject(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'postbox-types-'))
  await mkdir(join(dir, 'node_modules'))
  await symlink(repo, join(dir, 'node_modules', 'postbox'), 'dir')
  await symlink(join(repo, 'node_modules', '@types'), join(dir, 'node_modules', '@types'), 'dir')
  await writeFile(join(dir, 'order-changed.avsc'), JSON.stringify(orderSchema, null, 2))
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'es2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        skipLibCheck: true,
        types: ['node'],
        noEmit: true,
      },
      files: ['events.ts'],
    }),
  )
  await writeFile(join(dir, 'package.json'), '{ "type": "module" }')
  return dir
}

/** An event whose toExternal returns `mapped`, annotated with the generated type. */
const events = (mapped: string) => `
import { defineEvent } from 'postbox'
import type { OrderChanged } from './order-changed.types.js'

interface OrderRow { id: number; customer: string; total_cents: number; placed_at: Date; status: 'NEW' | 'PAID' }

export const OrderChangedEvent = defineEvent<OrderRow, OrderChanged>({
  type: 'order.changed',
  topic: 'orders.v1',
  key: (o) => String(o.id),
  schema: ${JSON.stringify(orderSchema)},
  toExternal: (o) => (${mapped}),
})
`

async function typeCheck(dir: string): Promise<{ code: number; output: string }> {
  try {
    await run(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', dir])
    return { code: 0, output: '' }
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string }
    return { code: failed.code, output: failed.stdout + failed.stderr }
  }
}

describe('postbox schemas types', () => {
  let dir: string

  before(async () => {
    dir = await userProject()
    const result = await runPostbox(
      ['schemas', 'types', join(dir, 'order-changed.avsc'), '--out', join(dir, 'order-changed.types.ts')],
      { databaseUrl: 'postgres://nobody@127.0.0.1:1/none' },
    )
    assert.equal(result.code, 0, result.stderr)
  })
  after(async () => rm(dir, { recursive: true, force: true }))

  test('writes one declaration per named type: logical types as the values they accept, defaulted fields optional', async () => {
    const source = await readFile(join(dir, 'order-changed.types.ts'), 'utf8')
    const body = source.slice(source.indexOf('export'))
    assert.equal(
      body,
      `export type Status = "NEW" | "PAID"

export interface OrderChanged {
  readonly "orderId": string
  /** customer reference */
  readonly "customer": string
  readonly "totalCents": number
  readonly "placedAt": Date | string | number | bigint
  readonly "amount": string | number | bigint | Buffer
  readonly "status": Status
  readonly "tags"?: readonly string[]
  readonly "note"?: null | string
}
`,
    )
  })

  test('prints to stdout without --out', async () => {
    const result = await runPostbox(['schemas', 'types', join(dir, 'order-changed.avsc')], {
      databaseUrl: 'postgres://nobody@127.0.0.1:1/none',
    })
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /^export interface OrderChanged \{$/m)
  })

  test('a mapping that returns the record the schema describes passes tsc', async () => {
    await writeFile(
      join(dir, 'events.ts'),
      events(
        "{ orderId: String(o.id), customer: o.customer, totalCents: o.total_cents, placedAt: o.placed_at, amount: '12.30', status: o.status }",
      ),
    )
    const checked = await typeCheck(dir)
    assert.equal(checked.code, 0, checked.output)
  })

  test('a mapping that returns a misnamed field fails tsc, naming the field', async () => {
    await writeFile(
      join(dir, 'events.ts'),
      events(
        "{ orderId: String(o.id), customerName: o.customer, totalCents: o.total_cents, placedAt: o.placed_at, amount: '12.30', status: o.status }",
      ),
    )
    const checked = await typeCheck(dir)
    assert.notEqual(checked.code, 0)
    assert.match(checked.output, /events\.ts.*error TS\d+:.*customer/)
  })

  test('a mapping that returns a field of the wrong type fails tsc', async () => {
    await writeFile(
      join(dir, 'events.ts'),
      events(
        "{ orderId: String(o.id), customer: o.customer, totalCents: String(o.total_cents), placedAt: o.placed_at, amount: '12.30', status: o.status }",
      ),
    )
    const checked = await typeCheck(dir)
    assert.notEqual(checked.code, 0)
    assert.match(checked.output, /events\.ts.*error TS2322: Type 'string' is not assignable to type 'number'/)
  })

  test('a file that is not an Avro schema is refused with its name', async () => {
    await writeFile(join(dir, 'broken.avsc'), '{ not json')
    const result = await runPostbox(['schemas', 'types', join(dir, 'broken.avsc')], {
      databaseUrl: 'postgres://nobody@127.0.0.1:1/none',
    })
    assert.notEqual(result.code, 0)
    assert.match(result.stderr, /broken\.avsc is not JSON/)
  })
})
