import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Compatibility } from '../../src/catalog/types.js'
import { SchemaError } from '../../src/index.js'
import { createRegistryClient } from '../../src/schema/registry.js'
import { orderSchemaV1 } from '../support/events.js'
import { stack, uniqueName } from '../support/stack.js'

const schemaText = JSON.stringify(orderSchemaV1)

async function registeredVersions(subject: string): Promise<number[]> {
  const response = await fetch(`${stack.registryUrl}/subjects/${encodeURIComponent(subject)}/versions`)
  return (await response.json()) as number[]
}

/** The subject's own compatibility level, as the registry reports it. */
async function subjectLevel(subject: string): Promise<string | undefined> {
  const response = await fetch(`${stack.registryUrl}/config/${encodeURIComponent(subject)}`)
  return ((await response.json()) as { compatibilityLevel?: string }).compatibilityLevel
}

describe('the registry client against the real registry', () => {
  for (const compatibility of ['BACKWARD', 'FULL'] as const satisfies readonly Compatibility[]) {
    test(`relays resolving a new subject at the same moment with ${compatibility} all get its one id, and it has one version at that level`, async () => {
      for (let round = 0; round < 5; round++) {
        const subject = `${uniqueName('registry.race')}-value`
        const clients = Array.from({ length: 4 }, () => createRegistryClient(stack.registryUrl))
        const ids = await Promise.all(
          clients.map((client) =>
            client.resolveSchemaId(subject, schemaText, { compatibility, autoRegister: true }),
          ),
        )
        assert.equal(new Set(ids).size, 1, `round ${round}: one id for every client, got ${ids.join(', ')}`)
        assert.deepEqual(await registeredVersions(subject), [1], `round ${round}: one version`)
        assert.equal(await subjectLevel(subject), compatibility, `round ${round}: the subject's level`)
      }
    })
  }

  test('a new schema that cannot read data written with the registered version is a SchemaError naming the level, and registers nothing', async () => {
    const subject = `${uniqueName('registry.incompatible')}-value`
    const client = createRegistryClient(stack.registryUrl)
    const options = { compatibility: 'BACKWARD', autoRegister: true } as const
    await client.resolveSchemaId(subject, schemaText, options)
    const withRequiredField = {
      ...orderSchemaV1,
      fields: [...orderSchemaV1.fields, { name: 'currency', type: 'string' }],
    }
    await assert.rejects(
      client.resolveSchemaId(subject, JSON.stringify(withRequiredField), options),
      (error) => {
        assert.ok(error instanceof SchemaError)
        assert.equal(error.retriable, false)
        assert.match(error.message, new RegExp(`schema for ${subject} is not BACKWARD-compatible`))
        return true
      },
    )
    assert.deepEqual(await registeredVersions(subject), [1])
  })
})
