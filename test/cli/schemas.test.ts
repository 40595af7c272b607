import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { runPostbox } from '../support/cli.js'
import { orderSchemaV1 } from '../support/events.js'
import { stack, uniqueName } from '../support/stack.js'

const CONFIG = 'test/cli/fixtures/orders.config.ts'

const withFields = (...fields: Record<string, unknown>[]) => ({
  ...orderSchemaV1,
  fields: [...orderSchemaV1.fields, ...fields],
})
const withoutField = (name: string) => ({
  ...orderSchemaV1,
  fields: orderSchemaV1.fields.filter((f) => f.name !== name),
})

/** Runs `postbox schemas ...` with the order event on `topic`, its value schema and compatibility level. */
const schemas = (topic: string, args: string[], schema: object = orderSchemaV1, compatibility = 'BACKWARD') =>
  runPostbox(['--config', CONFIG, 'schemas', ...args], {
    // No database is needed: the URL points nowhere on purpose.
    databaseUrl: 'postgres://nobody@127.0.0.1:1/none',
    env: {
      PBTEST_TOPIC: topic,
      PBTEST_VALUE_SCHEMA: JSON.stringify(schema),
      PBTEST_COMPATIBILITY: compatibility,
    },
  })

const latestVersion = async (subject: string) => {
  const response = await fetch(`${stack.registryUrl}/subjects/${subject}/versions/latest`)
  return (await response.json()) as { id: number; version: number }
}

describe('postbox schemas check|register', () => {
  test('register registers each subject and prints subject → id and version', async () => {
    const topic = uniqueName('cli.schemas.register')
    const result = await schemas(topic, ['register'])
    assert.equal(result.code, 0, result.stderr)
    const latest = await latestVersion(`${topic}-value`)
    assert.equal(result.stdout.trim(), `${topic}-value → id ${latest.id}, version 1`)

    const again = await schemas(topic, ['register', '--json'])
    assert.equal(again.code, 0, again.stderr)
    assert.deepEqual(JSON.parse(again.stdout), {
      version: 1,
      subjects: [{ subject: `${topic}-value`, id: latest.id, version: 1, error: null }],
    })
  })

  test('check passes a subject that is not in the registry yet', async () => {
    const topic = uniqueName('cli.schemas.new')
    const result = await schemas(topic, ['check'])
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, new RegExp(`${topic}-value\\s+BACKWARD\\s+new\\s+not in the registry yet`))
  })

  test('check passes a compatible change: a new field with a default under BACKWARD', async () => {
    const topic = uniqueName('cli.schemas.ok')
    assert.equal((await schemas(topic, ['register'])).code, 0)
    const result = await schemas(
      topic,
      ['check', '--json'],
      withFields({ name: 'currency', type: 'string', default: 'EUR' }),
    )
    assert.equal(result.code, 0, result.stderr)
    const {
      subjects: [report],
    } = JSON.parse(result.stdout) as { subjects: { subject: string; status: string; problems: string[] }[] }
    assert.equal(report?.subject, `${topic}-value`)
    assert.equal(report?.status, 'compatible')
    assert.deepEqual(report?.problems, [])
  })

  test('check fails with exit 1 and a readable reason on a new required field without a default under BACKWARD', async () => {
    const topic = uniqueName('cli.schemas.bad')
    assert.equal((await schemas(topic, ['register'])).code, 0)
    const result = await schemas(topic, ['check'], withFields({ name: 'currency', type: 'string' }))
    assert.equal(result.code, 1)
    assert.match(result.stdout, new RegExp(`${topic}-value\\s+BACKWARD\\s+INCOMPATIBLE\\s+latest version 1`))
    assert.match(
      result.stderr,
      new RegExp(
        `${topic}-value is not BACKWARD-compatible: the new schema cannot read data written with version 1: .*currency.*Fix: give every new field a default`,
      ),
    )
  })

  test("check judges by the event's own compatibility level: dropping a required field fails under FORWARD", async () => {
    const topic = uniqueName('cli.schemas.forward')
    assert.equal((await schemas(topic, ['register'], orderSchemaV1, 'FORWARD')).code, 0)
    const backward = await schemas(topic, ['check'], withoutField('customer'), 'BACKWARD')
    assert.equal(backward.code, 0, 'the same change is fine for BACKWARD')
    const forward = await schemas(topic, ['check'], withoutField('customer'), 'FORWARD')
    assert.equal(forward.code, 1)
    assert.match(
      forward.stderr,
      /is not FORWARD-compatible: readers of version 1 cannot read data written with the new schema: .*customer/,
    )
  })

  test('check without a config file exits 1 and says how to pass one', async () => {
    const result = await runPostbox(['schemas', 'check'], {
      databaseUrl: 'postgres://nobody@127.0.0.1:1/none',
    })
    assert.equal(result.code, 1)
    assert.match(result.stderr, /^postbox: no config file: pass --config <file>/)
  })
})
