import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { migrate } from '../../src/db/migrate.js'
import { ConfigError } from '../../src/errors.js'
import { kafkaClient } from '../../src/kafka/client.js'
import { silentLogger } from '../../src/observe/logger.js'
import { Relay, resolveConfig } from '../../src/relay-api.js'
import { type OrderRow, orderEvent } from '../support/events.js'
import { outboxFor, readTopic, relaySettings, startRelay } from '../support/relay.js'
import { queryRows, stack, uniqueName, waitFor } from '../support/stack.js'

/** The stack's private PostgreSQL cluster (`scripts/stack up pg-private`): a second server. */
const privateServerUrl = process.env.STACK_PG_PRIVATE_URL ?? 'postgres://postgres@127.0.0.1:5433/postgres'

function onServer(serverUrl: string, database: string): string {
  const url = new URL(serverUrl)
  url.pathname = `/${database}`
  return url.toString()
}

async function asAdmin(serverUrl: string, sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: serverUrl })
  await admin.connect()
  try {
    await admin.query(sql)
  } finally {
    await admin.end()
  }
}

async function systemIdentifier(url: string): Promise<string> {
  const [row] = await queryRows<{ id: string }>(
    url,
    'select system_identifier::text as id from pg_control_system()',
  )
  assert.ok(row)
  return row.id
}

/** The progress tokens exactly-once relays committed under `prefix` (one per shard that published). */
function committedProgress(prefix: string): Promise<Map<number, string>> {
  return kafkaClient(stack.brokers, 'test', silentLogger).committedProgress(
    `${prefix}.progress`,
    `${prefix}.progress`,
  )
}

describe('exactly-once transactional ids are unique per Postgres cluster by default', () => {
  // One database name on two servers: two deployments that share the Kafka cluster.
  const database = uniqueName('pbtxid').toLowerCase()
  const servers = [stack.databaseUrl, privateServerUrl]
  const urls = servers.map((server) => onServer(server, database))

  before(async () => {
    for (const [i, server] of servers.entries()) {
      await asAdmin(server, `create database "${database}"`)
      await migrate(urls[i] as string, 'postbox')
    }
  })
  after(async () => {
    for (const server of servers) await asAdmin(server, `drop database if exists "${database}" with (force)`)
  })

  const order = (id: number): OrderRow => ({ id, customer: 'c', total_cents: 1, status: 's' })

  async function enqueue(
    url: string,
    outbox: ReturnType<typeof outboxFor>,
    event: ReturnType<typeof orderEvent>,
  ) {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      await client.query('begin')
      await outbox.enqueueMany(
        client,
        event,
        Array.from({ length: 20 }, (_, k) => order(k)),
      )
      await client.query('commit')
    } finally {
      await client.end()
    }
  }

  test('two databases of the same name on two servers publish side by side, each under its own prefix', async () => {
    const ids = await Promise.all(urls.map(systemIdentifier))
    assert.notEqual(ids[0], ids[1], 'two clusters made by two initdb runs')
    const deployments = urls.map((url) => {
      const event = orderEvent(uniqueName('txid'))
      return { url, event, outbox: outboxFor([event]) }
    })
    const relays: Relay[] = []
    try {
      for (const d of deployments) {
        relays.push(await startRelay(d.url, [d.event], { delivery: 'exactly-once', topicPartitions: 1 }))
      }
      for (const d of deployments) await enqueue(d.url, d.outbox, d.event)
      for (const d of deployments) {
        await waitFor(
          `every row of ${d.url} sent`,
          async () => {
            const [row] = await queryRows<{ n: number }>(
              d.url,
              "select count(*)::int as n from postbox.outbox where status <> 'sent'",
            )
            return row?.n === 0 ? true : undefined
          },
          120_000,
        )
        assert.equal((await readTopic(d.event.topic)).length, 20)
      }
      for (const id of ids) {
        const tokens = await committedProgress(`postbox.${id}.${database}.postbox`)
        assert.ok(tokens.size > 0, `progress committed under postbox.${id}.${database}.postbox`)
      }
    } finally {
      for (const relay of relays) await relay.stop()
    }
  })

  test('an explicit relay.transactionalIdPrefix wins over the default', async () => {
    const url = urls[0] as string
    const event = orderEvent(uniqueName('txid.explicit'))
    const prefix = uniqueName('shop-eu')
    const relay = await startRelay(url, [event], {
      delivery: 'exactly-once',
      topicPartitions: 1,
      transactionalIdPrefix: prefix,
    })
    try {
      await enqueue(url, outboxFor([event]), event)
      await waitFor('the rows in Kafka', async () =>
        (await readTopic(event.topic)).length === 20 ? true : undefined,
      )
      const tokens = await waitFor('progress under the explicit prefix', async () => {
        const committed = await committedProgress(prefix)
        return committed.size > 0 ? committed : undefined
      })
      assert.ok(tokens.size > 0)
    } finally {
      await relay.stop()
    }
  })

  test('a role that cannot read the system identifier gets a start-up error asking for the prefix', async () => {
    const url = urls[1] as string
    const role = uniqueName('pbnoctl').toLowerCase()
    const server = privateServerUrl
    await asAdmin(server, `create role "${role}" login`)
    // Function privileges are per database: this touches only the test's own database.
    await asAdmin(url, 'revoke execute on function pg_control_system() from public')
    // What a relay writes at start-up before it asks for the system identifier: its event types.
    await asAdmin(url, `grant usage on schema postbox to "${role}"`)
    await asAdmin(url, `grant select, insert, update on postbox.event_type to "${role}"`)
    const asRole = new URL(url)
    asRole.username = role
    const settings = relaySettings(asRole.toString(), [orderEvent(uniqueName('txid.denied'))], {
      delivery: 'exactly-once',
    })
    const relay = new Relay(resolveConfig(settings), { logger: silentLogger })
    try {
      await assert.rejects(
        relay.start(),
        (error: unknown) =>
          error instanceof ConfigError &&
          /cannot read .*SQLSTATE 42501.*set relay\.transactionalIdPrefix/.test(error.message),
      )
    } finally {
      await relay.stop()
      await asAdmin(url, 'grant execute on function pg_control_system() to public')
      await asAdmin(url, `drop owned by "${role}"`)
      await asAdmin(server, `drop role if exists "${role}"`)
    }
  })
})
