import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'

test('npm run demo publishes the order service events and prints them decoded, with the delete as a tombstone', () => {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'examples/orders/demo.ts'], {
    encoding: 'utf8',
    timeout: 120_000,
  })
  assert.equal(result.status, 0, result.stderr)
  const out = result.stdout
  assert.match(out, /"status":"PLACED"/)
  assert.match(out, /"status":"SHIPPED"/)
  assert.match(out, /'2'\s*│\s*'order\.changed'\s*│\s*'tombstone'/)
  assert.doesNotMatch(out, /gift wrap/, 'internal columns never reach Kafka')
  assert.match(out, /outbox rows still pending: 0/)
})
