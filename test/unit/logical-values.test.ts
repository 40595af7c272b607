import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { mapToExternal, toStoredJson } from '../../src/catalog/map-event.js'
import { parseStoredJson, restoreTypes } from '../../src/catalog/stored-json.js'
import { defineEvent, ValidationError } from '../../src/index.js'
import {
  decimalText,
  toDateDays,
  toTimeMillis,
  toTimestampMicros,
  toTimestampMillis,
  toUnscaled,
  twosComplement,
} from '../../src/schema/logical-values.js'

describe('logical type values', () => {
  test('ISO timestamps honour their offset, read a missing offset as UTC and drop digits past the unit', () => {
    const utc = Date.UTC(2024, 0, 2, 3, 4, 5, 678)
    assert.equal(toTimestampMillis('2024-01-02T03:04:05.678Z'), utc)
    assert.equal(toTimestampMillis('2024-01-02T05:34:05.678+02:30'), utc)
    assert.equal(toTimestampMillis('2024-01-02 03:04:05.678999'), utc)
    assert.equal(toTimestampMicros('2024-01-02T03:04:05.678901-00:00'), utc * 1000 + 901)
    assert.equal(toTimestampMillis('2024-02-30T00:00:00Z'), undefined)
    assert.equal(toTimestampMillis('24:00'), undefined)
    assert.equal(toTimestampMillis(new Date(Number.NaN)), undefined)
    assert.equal(toTimestampMillis(2n ** 60n), undefined)
  })

  test('dates count UTC days and times count milliseconds after midnight', () => {
    assert.equal(toDateDays('1970-01-02'), 1)
    assert.equal(toDateDays('1969-12-31'), -1)
    assert.equal(toDateDays(new Date('2024-02-29T23:59:59Z')), 19782)
    assert.equal(toDateDays('2024-02-29T00:00:00Z'), undefined)
    assert.equal(toTimeMillis('00:00'), 0)
    assert.equal(toTimeMillis('23:59:59.999'), 86_399_999)
    assert.equal(toTimeMillis(86_400_000), undefined)
    assert.equal(toTimeMillis(new Date('2024-01-02T01:00:00.250Z')), 3_600_250)
  })

  test('decimals scale exactly, accept trailing zeros and exponents, and are never rounded', () => {
    assert.equal(toUnscaled('12.3', 4, 2), 1230n)
    assert.equal(toUnscaled('1.230', 4, 2), 123n)
    assert.equal(toUnscaled('-1.5e2', 5, 2), -15000n)
    assert.equal(toUnscaled(7n, 3, 2), 700n)
    assert.equal(toUnscaled(0.1 + 0.2, 10, 2), undefined)
    assert.equal(toUnscaled('12.345', 10, 2), undefined)
    assert.equal(toUnscaled('100.00', 4, 2), undefined, 'five digits do not fit precision 4')
    assert.equal(toUnscaled('abc', 4, 2), undefined)
  })

  test("two's complement takes the fewest bytes, sign-extends to a fixed size and refuses what does not fit", () => {
    assert.equal(twosComplement(127n)?.toString('hex'), '7f')
    assert.equal(twosComplement(128n)?.toString('hex'), '0080')
    assert.equal(twosComplement(-128n)?.toString('hex'), '80')
    assert.equal(twosComplement(-129n)?.toString('hex'), 'ff7f')
    assert.equal(twosComplement(-1n, 4)?.toString('hex'), 'ffffffff')
    assert.equal(twosComplement(40000n, 2), undefined)
    assert.equal(decimalText(Buffer.from('ff7f', 'hex'), 2), '-1.29')
    assert.equal(decimalText(Buffer.from('05', 'hex'), 3), '0.005')
  })
})

describe('the stored snapshot keeps Dates and bigints', () => {
  const event = defineEvent({
    type: 'unit.stored',
    topic: 'unit.stored',
    key: (r: { id: string }) => r.id,
    schema: { type: 'record', name: 'S', fields: [{ name: 'id', type: 'string' }] },
    toExternal: (r: { id: string }) => ({ id: r.id }),
  })

  test('a Date and a bigint, nested anywhere, come back as a Date and a bigint', () => {
    const row = {
      id: 'a',
      at: new Date('2024-01-02T03:04:05.678Z'),
      list: [{ big: 2n ** 70n }],
      plain: { n: 1 },
    }
    const { snapshot } = toStoredJson(event, row)
    assert.deepEqual(JSON.parse(JSON.stringify(snapshot)), {
      id: 'a',
      at: { '$postbox:date': '2024-01-02T03:04:05.678Z' },
      list: [{ big: { '$postbox:bigint': '1180591620717411303424' } }],
      plain: { n: 1 },
    })
    assert.deepEqual(restoreTypes(snapshot), row)
    assert.deepEqual(mapToExternal(event, snapshot), { id: 'a' })
  })

  test('the relay parses the stored JSON text as Postgres prints jsonb, tags restored and only then', () => {
    const row = { id: 'a', at: new Date('2024-01-02T03:04:05.678Z'), n: [1, { big: 5n }] }
    // jsonb's text has a space after each colon and comma.
    const printed =
      '{"n": [1, {"big": {"$postbox:bigint": "5"}}], "at": {"$postbox:date": "2024-01-02T03:04:05.678Z"}, "id": "a"}'
    assert.deepEqual(parseStoredJson(printed), row)
    const { snapshot } = toStoredJson(event, row)
    assert.deepEqual(parseStoredJson(JSON.stringify(snapshot)), row)
    // Without tags the parsed value is returned as it is; the tag text inside a string is a string.
    const plain = '{"id": "a", "note": "$postbox:date is how Dates are stored", "tags": {"$postbox:x": 1}}'
    assert.deepEqual(parseStoredJson(plain), JSON.parse(plain))
  })

  test('an object of the application that looks like a tag, or an invalid Date, is a ValidationError', () => {
    for (const row of [
      { id: 'a', x: { '$postbox:date': 'now' } },
      { id: 'a', at: new Date(Number.NaN) },
    ]) {
      assert.throws(() => toStoredJson(event, row), ValidationError)
    }
  })
})
