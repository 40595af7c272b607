import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { runPostbox } from '../support/cli.js'
import { orderEvent } from '../support/events.js'
import { outboxFor } from '../support/relay.js'
import { createMigratedDatabase, queryRows, uniqueName } from '../support/stack.js'

const CONFIG = 'test/cli/fixtures/orders.config.ts'

// Each input is refused before anything runs: exit 2, one line naming the option and the accepted range.
const CASES: { args: readonly string[]; message: RegExp }[] = [
  {
    args: ['purge', '--sent', '--older-than', '99999999999999d', '--yes'],
    message:
      /option '--older-than <duration>' argument '99999999999999d' is invalid\. expected a duration such as 90s, 15m, 2h, 7d or 1w, from 0s to 36500d/,
  },
  {
    args: ['replay', '--since', '99999999999999d', '--yes'],
    message:
      /option '--since <time>' argument '99999999999999d' is invalid\. expected a duration such as 90s, 15m, 2h, 7d or 1w, from 0s to 36500d/,
  },
  {
    args: ['replay', '--since', '2025-02-30T00:00:00Z', '--yes'],
    message:
      /option '--since <time>' argument '2025-02-30T00:00:00Z' is invalid\. expected an ISO timestamp .* with a real calendar date/,
  },
  {
    args: ['replay', '--from-id', '9999999999999999999', '--yes'],
    message:
      /option '--from-id <id>' argument '9999999999999999999' is invalid\. expected an outbox row id from 1 to 9223372036854775807/,
  },
  {
    args: ['replay', '--topic', 'orders', '--rate', '0.0000001', '--yes'],
    message:
      /option '--rate <n>' argument '0\.0000001' is invalid\. expected rows per second from 0\.01 to 1000000/,
  },
  {
    args: ['relay', '--http-port', 'abc'],
    message: /option '--http-port <n>' argument 'abc' is invalid\. expected a TCP port 0 … 65535/,
  },
  {
    args: ['status', '--stall-seconds', 'abc'],
    message:
      /option '--stall-seconds <n>' argument 'abc' is invalid\. expected a number of seconds from 0 to 604800/,
  },
  {
    args: ['replay', '--topic', 'orders', '--batch', '0', '--yes'],
    message: /option '--batch <n>' argument '0' is invalid\. expected a whole number from 1 to 1000000/,
  },
]

describe('postbox refuses bad input with exit 2 and changes nothing', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  let dir: string
  const topic = uniqueName('cli.inputs')
  const OrderChanged = orderEvent(topic)

  /** Every outbox row as an operator would see it; a refused command must leave it as it was. */
  const outboxRows = () =>
    queryRows<{ id: string; status: string }>(
      db.url,
      'select id::text, status from postbox.outbox order by id',
    )

  before(async () => {
    db = await createMigratedDatabase('pbcliinputs')
    dir = await mkdtemp(join(tmpdir(), 'postbox-inputs-'))
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      await client.query('begin')
      const outbox = outboxFor([OrderChanged])
      for (const id of [1, 2, 3, 4]) {
        await outbox.enqueue(client, OrderChanged, { id, customer: `c${id}`, total_cents: id, status: 'new' })
      }
      await client.query('commit')
      // Two rows sent long ago: what a purge would delete if it ran.
      await client.query(
        "update postbox.outbox set status = 'sent', sent_at = now() - interval '1000 days' where id <= 2",
      )
    } finally {
      await client.end()
    }
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
    await db.drop()
  })

  for (const { args, message } of CASES) {
    test(`postbox ${args.join(' ')}`, async () => {
      const rowsBefore = await outboxRows()
      const result = await runPostbox(['--config', CONFIG, ...args], {
        databaseUrl: db.url,
        env: { PBTEST_TOPIC: topic },
      })
      assert.equal(result.code, 2, result.stderr)
      assert.match(result.stderr.split('\n')[0] ?? '', message)
      assert.deepEqual(await outboxRows(), rowsBefore)
    })
  }

  for (const [entries, index, shown] of [
    ['[{}]', 0, '\\{\\}'],
    ['[null]', 0, 'null'],
  ] as const) {
    test(`a config file exporting events: ${entries} is refused, naming the file and the index`, async () => {
      const file = join(dir, `events-${index}-${shown.length}.mjs`)
      await writeFile(file, `export default { events: ${entries} }\n`)
      const rowsBefore = await outboxRows()
      const result = await runPostbox(['--config', file, 'replay', '--topic', topic, '--yes'], {
        databaseUrl: db.url,
      })
      assert.equal(result.code, 2, result.stderr)
      assert.match(
        result.stderr,
        new RegExp(
          `^postbox: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: events\\[${index}\\] ${shown}: expected an event made with defineEvent\\(\\) \\[POSTBOX_CONFIG\\]$`,
          'm',
        ),
      )
      assert.deepEqual(await outboxRows(), rowsBefore)
    })
  }

  test('an unknown key in the config file is refused, naming it', async () => {
    const file = join(dir, 'typo.mjs')
    await writeFile(file, 'export default { events: [], relay: { pollIntervalMS: 500 } }\n')
    const result = await runPostbox(['--config', file, 'status'], { databaseUrl: db.url })
    assert.equal(result.code, 2, result.stderr)
    assert.match(result.stderr, /typo\.mjs: unknown key relay\.pollIntervalMS/)
  })

  test('an unknown LOG_LEVEL is refused, naming the variable', async () => {
    const result = await runPostbox(['--config', CONFIG, 'status'], {
      databaseUrl: db.url,
      env: { PBTEST_TOPIC: topic, LOG_LEVEL: 'verbose' },
    })
    assert.equal(result.code, 2, result.stderr)
    assert.match(
      result.stderr,
      /LOG_LEVEL "verbose" is not a log level: use one of debug, info, warn, error, silent/,
    )
  })
})
