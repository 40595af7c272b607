import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type BatchedOperation, runBatchedOperation } from '../../src/cli/batched-operation.js'
import type { CommandRuntime, ShutdownSignal } from '../../src/cli/runtime.js'
import { type BatchLoopResult, runBatches } from '../../src/ops/batches.js'

/** A runtime without a terminal that records output and lets the test send a shutdown signal. */
function fakeRuntime() {
  const out: string[] = []
  const err: string[] = []
  const handlers: ((signal: ShutdownSignal) => void)[] = []
  const runtime: CommandRuntime = {
    io: {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
      interactive: false,
      canPrompt: false,
      ask: async () => '',
    },
    settings: async () => ({ events: [] }),
    connection: async () => {
      throw new Error('not used')
    },
    onShutdownSignal: (handler) => handlers.push(handler),
    action:
      (run) =>
      async (...args) => {
        await run(...args)
      },
  }
  const signal = (s: ShutdownSignal) => {
    for (const handler of handlers) handler(s)
  }
  return { runtime, out, err, signal }
}

/** A 10-row operation whose batches are counted in `done`. */
function operation(
  options: { dryRun?: boolean; yes?: boolean; onBatch?: (batch: number) => void } = {},
): BatchedOperation<BatchLoopResult> & { done: number[] } {
  const done: number[] = []
  let left = 10
  return {
    done,
    name: 'replay',
    dryRun: options.dryRun ?? false,
    yes: options.yes ?? true,
    declined: 'nothing replayed',
    count: async () => 10,
    showDryRun: async (matched) => matched,
    showNothingToDo: () => {},
    action: (matched) => `replay ${matched} row(s)`,
    run: (signal, advance) =>
      runBatches(
        { batchSize: 2, signal },
        async (limit) => {
          const rows = Math.min(limit, left)
          left -= rows
          done.push(rows)
          options.onBatch?.(done.length)
          return { rows, done: left === 0 }
        },
        advance,
      ),
    report: () => {},
    resumeHint: () => `--from-id ${11 - left}`,
  }
}

describe('batched operations', () => {
  test('run every batch and exit 0 when nothing stops them', async () => {
    const { runtime } = fakeRuntime()
    const op = operation()
    assert.equal(await runBatchedOperation(runtime, op), 0)
    assert.deepEqual(op.done, [2, 2, 2, 2, 2])
  })

  for (const [signal, code] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    test(`${signal} stops after the batch in flight, says how to continue and exits ${code}`, async () => {
      const fake = fakeRuntime()
      const op = operation({ onBatch: (n) => n === 2 && fake.signal(signal) })
      assert.equal(await runBatchedOperation(fake.runtime, op), code)
      assert.deepEqual(op.done, [2, 2], 'the batch in flight finished, no other started')
      assert.ok(
        fake.err.includes(`replay stopped by ${signal} after the batch in flight; continue with --from-id 5`),
        fake.err.join('\n'),
      )
    })
  }

  test('a dry run and a refusal to confirm run no batch', async () => {
    const dry = operation({ dryRun: true })
    assert.equal(await runBatchedOperation(fakeRuntime().runtime, dry), 10)
    assert.deepEqual(dry.done, [])
    const unconfirmed = operation({ yes: false })
    await assert.rejects(runBatchedOperation(fakeRuntime().runtime, unconfirmed), /pass --yes/)
    assert.deepEqual(unconfirmed.done, [])
  })

  test('a signal ends the wait of a paced loop, so a slow rate never holds a stop back', async () => {
    const stop = new AbortController()
    let batches = 0
    const result = await runBatches({ batchSize: 10, rowsPerSecond: 0.01, signal: stop.signal }, async () => {
      batches++
      // One row per 100 s: the loop would wait 100 s before the next batch unless stopped.
      setImmediate(() => stop.abort())
      return { rows: 1, done: false }
    })
    assert.deepEqual(result, { rows: 1, batches: 1, stopped: true })
    assert.equal(batches, 1)
  })
})
