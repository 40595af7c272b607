import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  between,
  type ChaosWorld,
  runScenario,
  sleep,
  stackCommand,
  waitWhileProgressing,
} from './harness.js'

/**
 * Breaks things while a writer commits and real relay processes publish, then checks with an
 * independent consumer that every row reached Kafka and no key was reordered.
 */
describe('chaos', { concurrency: 1 }, () => {
  test('kill -9 of the relay at ten random moments loses nothing and keeps every key in order', async () => {
    await runScenario('kill -9 x10', killRelayTenTimes)
  })

  test('stopping and restarting the Kafka broker mid-stream loses nothing', async () => {
    await runScenario('broker restart', async (world) => {
      world.startRelay()
      const writing = world.write(10_000, 500, { perSecond: 2000 })
      await world.waitForProgress(0)
      stackCommand('stop', 'kafka')
      try {
        await sleep(3000)
      } finally {
        stackCommand('start', 'kafka')
      }
      await writing
      await world.waitUntilDrained()
    })
  })

  test('stopping and restarting the schema registry mid-stream loses nothing (cached schema ids keep flowing)', async () => {
    await runScenario('registry restart', async (world) => {
      world.startRelay()
      const writing = world.write(10_000, 500, { perSecond: 2000 })
      // The relay resolves its schema ids at start-up: stop the registry only once it publishes.
      await world.waitForProgress(0)
      stackCommand('stop', 'registry')
      try {
        const sentWhenDown = await world.sentRows()
        await world.waitForProgress(sentWhenDown)
      } finally {
        // Later scenarios start relays of their own, which need the registry.
        stackCommand('start', 'registry')
      }
      await writing
      await world.waitUntilDrained()
    })
  })

  test("terminating the relay's Postgres connections mid-stream loses nothing", async () => {
    await runScenario('pg_terminate_backend', async (world) => {
      world.startRelay()
      const writing = world.write(10_000, 500, { perSecond: 2000 })
      for (let i = 0; i < 5; i++) {
        await sleep(between(500, 1500))
        await world.terminateRelayConnections()
      }
      await writing
      await world.waitUntilDrained()
    })
  })

  test('a Postgres outage (every connection killed, new ones refused for 5 s) mid-stream loses nothing', async () => {
    await runScenario('postgres outage', async (world) => {
      world.startRelay()
      const writing = world.write(10_000, 500, { perSecond: 2000 })
      await sleep(1500)
      await world.databaseOutage(5000)
      await writing
      await world.waitUntilDrained()
    })
  })

  test('a transaction held open across a gap and committed later is published in key order', async () => {
    await runScenario('open transaction gap', async (world) => {
      world.startRelay()
      const writing = world.write(5_000, 500, { perSecond: 2000 })
      // The slow transaction takes an outbox id early and commits seconds later, after
      // hundreds of rows with higher ids (some of the same key) were committed and published.
      await sleep(500)
      await world.transaction(async (slow) => {
        await world.writeIn(slow, 'k1')
        await sleep(3000)
      })
      await writing
      await world.waitUntilDrained()
    })
  })

  test('two relays: kill -9 one, SIGSTOP the other past its lease while a third takes over, then SIGCONT', async () => {
    await runScenario('two relays + SIGSTOP', freezeRelayPastItsLease)
  })

  test('a poison row is parked: its key waits, every other key flows', async () => {
    await runScenario('poison row', async (world) => {
      world.startRelay()
      await world.write(500, 50)
      await world.writePoison('k7')
      await world.write(2_000, 50)
      const counts = async () =>
        world.transaction(async (c) => {
          const { rows } = await c.query(
            `select count(*) filter (where status = 'parked')::int as parked,
                    count(*) filter (where status = 'pending' and key = 'k7')::int as waiting,
                    count(*) filter (where status = 'pending' and key <> 'k7')::int as others
             from postbox.outbox`,
          )
          return rows[0] as { parked: number; waiting: number; others: number }
        })
      const settled = await waitWhileProgressing(
        'every other key to flow',
        async () => {
          const c = await counts()
          return c.others === 0 && c.parked === 1 ? c : undefined
        },
        () => world.relayProgress(),
      )
      assert.ok(settled.waiting > 0, 'later rows of the poisoned key wait behind it')
    })
  })

  test('exactly-once: kill -9 of the relay at ten random moments leaves zero duplicates for read_committed consumers', async () => {
    await runScenario('exactly-once kill -9 x10', killRelayTenTimes, { exactlyOnce: true })
  })

  test("sentRows 'delete': kill -9 of the relay at ten random moments loses nothing and keeps every key in order", async () => {
    await runScenario('delete on publish, kill -9 x10', killRelayTenTimes, { deleteSent: true })
  })

  test("sentRows 'delete', exactly-once: kill -9 of the relay at ten random moments leaves zero duplicates", async () => {
    await runScenario('exactly-once, delete on publish, kill -9 x10', killRelayTenTimes, {
      exactlyOnce: true,
      deleteSent: true,
    })
  })

  test("sentRows 'delete', exactly-once: a relay frozen past its lease is fenced by the new owner: nothing lost, no duplicates", async () => {
    await runScenario('exactly-once, delete on publish, two relays + SIGSTOP', freezeRelayPastItsLease, {
      exactlyOnce: true,
      deleteSent: true,
    })
  })

  test('exactly-once: a relay frozen past its lease is fenced by the new owner and publishes nothing late', async () => {
    await runScenario('exactly-once two relays + SIGSTOP', freezeRelayPastItsLease, { exactlyOnce: true })
  })
})

/** Kills a relay ten times, each once it really publishes, at a random moment of its work. */
async function killRelayTenTimes(world: ChaosWorld): Promise<void> {
  const writing = world.write(20_000, 500, { perSecond: 350 })
  for (let i = 0; i < 10; i++) {
    const relay = world.startRelay()
    await world.waitForProgress(await world.sentRows())
    await sleep(between(0, 700))
    await world.kill(relay, 'SIGKILL')
  }
  await writing
  world.startRelay()
  await world.waitUntilDrained()
}

/** Two relays; one is killed, the other frozen past its lease while a third takes over, then thawed. */
async function freezeRelayPastItsLease(world: ChaosWorld): Promise<void> {
  const a = world.startRelay()
  const b = world.startRelay()
  const writing = world.write(10_000, 500, { perSecond: 1500 })
  await sleep(2500)
  await world.kill(a, 'SIGKILL')
  await sleep(4000)
  b.kill('SIGSTOP')
  world.startRelay()
  await sleep(5000)
  b.kill('SIGCONT')
  await writing
  await world.waitUntilDrained()
}
