import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry'
import { stack, uniqueName } from '../support/stack.js'

/** The registry the stack script starts speaks the Confluent API that consumers use. */
describe('schema registry smoke', () => {
  const registry = new SchemaRegistry({ host: stack.registryUrl })
  const schema = {
    type: 'record',
    name: 'Smoke',
    namespace: 'postbox.smoke',
    fields: [
      { name: 'n', type: 'int' },
      { name: 's', type: 'string' },
    ],
  }

  test('an Avro schema registers and a record round-trips through the Confluent wire format', async () => {
    const subject = `${uniqueName('smoke')}-value`
    const { id } = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
      { subject },
    )
    const bytes = await registry.encode(id, { n: 7, s: 'seven' })
    assert.equal(bytes.readUInt8(0), 0, 'magic byte')
    assert.equal(bytes.readUInt32BE(1), id, 'schema id in the frame')
    assert.deepEqual({ ...(await registry.decode(bytes)) }, { n: 7, s: 'seven' })
    assert.equal(await registry.getLatestSchemaId(subject), id, 'latest and register agree on the id')
  })

  test('the global compatibility rule is BACKWARD', async () => {
    const response = await fetch(`${stack.registryUrl}/config`)
    const body = (await response.json()) as { compatibilityLevel: string }
    assert.equal(body.compatibilityLevel, 'BACKWARD')
  })
})
