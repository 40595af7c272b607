import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { runPostbox } from '../support/cli.js'
import { orderEvent } from '../support/events.js'
import { outboxFor } from '../support/relay.js'
import { createMigratedDatabase, queryRows, stack, uniqueName, waitFor } from '../support/stack.js'

const ROWS = 10

describe('batch commands stop after the batch in flight on SIGINT/SIGTERM', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  const topic = uniqueName('cli.signals')
  const OrderChanged = orderEvent(topic)

  before(async () => {
    db = await createMigratedDatabase('pbclisignals')
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      await client.query('begin')
      const outbox = outboxFor([OrderChanged])
      for (let id = 1; id <= ROWS; id++) {
        await outbox.enqueue(client, OrderChanged, { id, customer: `c${id}`, total_cents: id, status: 'new' })
      }
      await client.query('commit')
    } finally {
      await client.end()
    }
  })
  after(async () => {
    await db.drop()
  })

  /** Source ids of the replay copies, one entry per copy. */
  const copiedIds = async () =>
    (
      await queryRows<{ id: string }>(
        db.url,
        `select o.id::text from postbox.outbox c join postbox.outbox o on o.event_id::text = c.headers->>'replay-of'
         order by o.id`,
      )
    ).map((r) => Number(r.id))

  /** Starts `postbox replay` as an operator would, and sends `signal` once it has queued a copy. */
  async function interruptedReplay(signal: 'SIGINT' | 'SIGTERM', fromId: number) {
    const copiesBefore = (await copiedIds()).length
    const child = spawn(
      process.execPath,
      [
        'dist/bin/postbox.js',
        'replay',
        '--from-id',
        String(fromId),
        '--to-id',
        String(ROWS),
        '--rate',
        '1',
        '--yes',
      ],
      {
        env: { PATH: process.env.PATH ?? '', DATABASE_URL: db.url, KAFKA_BROKERS: stack.brokers.join(',') },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8')
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8')
    })
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
    await waitFor('a first copy queued', async () =>
      (await copiedIds()).length > copiesBefore ? true : undefined,
    )
    child.kill(signal)
    const code = await exited
    return { code, stdout, stderr }
  }

  test('SIGTERM during replay --rate 1 exits 143, says where to continue, and that --from-id completes the replay', async () => {
    const run = await interruptedReplay('SIGTERM', 1)
    assert.equal(run.code, 143, run.stderr)
    const hint = /replay stopped by SIGTERM after the batch in flight; continue with --from-id (\d+)/.exec(
      run.stderr,
    )
    assert.ok(hint, run.stderr)
    const next = Number(hint[1])
    const copied = await copiedIds()
    assert.ok(next > 1 && next <= ROWS, `continue from ${next}`)
    assert.deepEqual(
      copied,
      Array.from({ length: next - 1 }, (_, i) => i + 1),
      'every row before the hint was copied exactly once, none after it',
    )

    const rest = await runPostbox(['replay', '--from-id', String(next), '--to-id', String(ROWS), '--yes'], {
      databaseUrl: db.url,
    })
    assert.equal(rest.code, 0, rest.stderr)
    assert.deepEqual(
      await copiedIds(),
      Array.from({ length: ROWS }, (_, i) => i + 1),
    )
  })

  test('SIGINT during replay exits 130 with the same hint', async () => {
    const before = (await copiedIds()).length
    const run = await interruptedReplay('SIGINT', 1)
    assert.equal(run.code, 130, run.stderr)
    const hint = /replay stopped by SIGINT after the batch in flight; continue with --from-id (\d+)/.exec(
      run.stderr,
    )
    assert.ok(hint, run.stderr)
    assert.equal((await copiedIds()).length - before, Number(hint[1]) - 1)
  })
})
