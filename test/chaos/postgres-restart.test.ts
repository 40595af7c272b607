import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type ChaosWorld, runScenario, sleep } from './harness.js'
import { createPrivateDatabase, restartPrivateServer, serverStartedAt } from './private-postgres.js'

/**
 * Restarts the whole PostgreSQL server under a running relay: the stack's private cluster, since
 * the machine's shared server cannot be restarted. `fast` rolls back open transactions and
 * checkpoints; `immediate` stops without a checkpoint, so the server comes back through crash
 * recovery. The relay process must ride it out on its own and publish everything, in key order.
 */
describe('chaos: PostgreSQL server restarts (private cluster)', { concurrency: 1 }, () => {
  for (const mode of ['fast', 'immediate'] as const) {
    for (const exactlyOnce of [false, true]) {
      const delivery = exactlyOnce ? 'exactly-once' : 'at-least-once'
      test(`${delivery}: pg_ctl restart -m ${mode} mid-stream loses nothing and keeps every key in order`, async () => {
        await runScenario(
          `${delivery} postgres restart -m ${mode}`,
          (world) => restartMidStream(world, mode),
          {
            exactlyOnce,
            database: await createPrivateDatabase(),
          },
        )
      })
    }
  }
})

/**
 * A writer commits 10,000 events while one relay publishes; a second after the relay has
 * published its first rows, the server restarts (the writer waits between two transactions
 * meanwhile, so none of its own commits has an unknown outcome). The same relay process must
 * drain the outbox afterwards.
 */
async function restartMidStream(world: ChaosWorld, mode: 'fast' | 'immediate'): Promise<void> {
  const relay = world.startRelay()
  const writing = world.write(10_000, 500, { perSecond: 2000 })
  await world.waitForProgress(0)
  await sleep(1000)
  const before = await serverStartedAt()
  await world.withWriterPaused(async () => {
    console.log(
      `# ${await world.pendingRows()} row(s) pending, ${await world.sentRows()} sent at the restart`,
    )
    await restartPrivateServer(mode)
  })
  assert.notEqual(await serverStartedAt(), before, 'the server restarted')
  await writing
  await world.waitUntilDrained()
  assert.equal(relay.exitCode, null, 'the relay process outlived the restart')
  assert.equal(relay.signalCode, null, 'the relay process outlived the restart')
}
