import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import pg from 'pg'
import { createOutbox } from '../../dist/src/index.js'
import { createRegistryClient } from '../../dist/src/schema/registry.js'
import { readPublished } from '../../dist/src/testing.js'
import { createMigratedDatabase, stack, uniqueName } from '../support/stack.js'
// @ts-expect-error: a plain .mjs config file without type declarations
import { chaosEvent } from './fixtures/chaos.config.mjs'

const CONFIG = 'test/chaos/fixtures/chaos.config.mjs'

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
export const between = (min: number, max: number) => min + Math.floor(Math.random() * (max - min))

/**
 * How long a wait may see no progress at all before it fails (CHAOS_QUIET_SECONDS, default 120 s).
 * Waits are judged by progress, not by a total: a loaded machine only stretches them.
 */
const QUIET_MS = Number(process.env.CHAOS_QUIET_SECONDS ?? 120) * 1000

/**
 * Polls `check` until it returns a value other than undefined. Fails only when `progress` (any
 * sign that the work it waits for moves: rows sent, a relay writing its log) has not changed for
 * `quietMs`, so a slow machine stretches the wait while a stuck relay still fails it.
 */
export async function waitWhileProgressing<T>(
  what: string,
  check: () => Promise<T | undefined>,
  progress: () => Promise<string>,
  quietMs = QUIET_MS,
): Promise<T> {
  let last = ''
  let lastChange = Date.now()
  let lastError: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined) return value
      const now = await progress()
      if (now !== last) {
        last = now
        lastChange = Date.now()
      }
    } catch (error) {
      lastError = error
    }
    if (Date.now() - lastChange > quietMs) {
      throw new Error(
        `no progress for ${quietMs / 1000} s waiting for ${what} (last progress: ${last})${lastError ? `: ${String(lastError)}` : ''}`,
      )
    }
    await sleep(200)
  }
}

/** Runs the real stack script (stop/start/kill one part). */
export function stackCommand(...args: string[]): void {
  const result = spawnSync('scripts/stack', args, { encoding: 'utf8', timeout: 240_000 })
  assert.equal(result.status, 0, `scripts/stack ${args.join(' ')} failed: ${result.stderr}${result.stdout}`)
}

interface ChaosRow {
  key: string
  seq: number
  customer: string
}

/** One scenario's world: its own database, topic, writer and relay processes. */
export class ChaosWorld {
  readonly topic = uniqueName('chaos')
  readonly relays: ChildProcess[] = []
  private readonly event = chaosEvent(this.topic)
  private readonly outbox = createOutbox({ events: [this.event] })
  private readonly seqs = new Map<string, number>()
  /** While set, the writer waits before its next transaction (it never writes into an outage). */
  private gate: Promise<void> | null = null
  private writerIdle: (() => void) | null = null
  /** Running write() calls; a fault waits for them to pause, not for ones that have finished. */
  private writers = 0
  /** Bytes the relay processes wrote to stderr (their logs): a sign of life while one starts. */
  private relayOutput = 0
  private constructor(
    readonly db: { url: string; drop(): Promise<void> },
    private readonly pool: pg.Pool,
    private readonly relayEnv: Record<string, string>,
  ) {}

  /**
   * `relayEnv` is passed to every relay process (e.g. CHAOS_DELIVERY); `database` is a migrated
   * database of the scenario's own, by default on the machine's server.
   */
  static async create(
    relayEnv: Record<string, string> = {},
    database?: { url: string; drop(): Promise<void> },
  ): Promise<ChaosWorld> {
    const db = database ?? (await createMigratedDatabase('pbchaos'))
    const pool = new pg.Pool({ connectionString: db.url, max: 4 })
    // Idle connections die in the outage scenario; the pool makes new ones afterwards.
    pool.on('error', () => {})
    return new ChaosWorld(db, pool, relayEnv)
  }

  async close(): Promise<void> {
    for (const relay of this.relays)
      if (relay.exitCode === null && relay.signalCode === null) relay.kill('SIGKILL')
    await this.pool.end()
    await this.db.drop()
  }

  /** Starts `postbox relay` as a child process, as an operator would. */
  startRelay(env: Record<string, string> = {}): ChildProcess {
    const child = spawn(process.execPath, ['dist/bin/postbox.js', 'relay', '--config', CONFIG], {
      env: {
        ...process.env,
        DATABASE_URL: this.db.url,
        KAFKA_BROKERS: stack.brokers.join(','),
        SCHEMA_REGISTRY_URL: stack.registryUrl,
        CHAOS_TOPIC: this.topic,
        ...this.relayEnv,
        ...env,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    child.stderr?.on('data', (chunk: Buffer) => {
      this.relayOutput += chunk.length
      if (process.env.CHAOS_VERBOSE) process.stderr.write(`[relay ${child.pid}] ${chunk}`)
    })
    this.relays.push(child)
    return child
  }

  async kill(relay: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (relay.exitCode !== null || relay.signalCode !== null) return
    const exited = once(relay, 'exit')
    relay.kill(signal)
    await exited
  }

  /**
   * Commits `events` events over `keys` keys, `perTransaction` at a time, each key's events
   * carrying an increasing seq; paced to roughly `perSecond`.
   */
  async write(events: number, keys: number, options: { perTransaction?: number; perSecond?: number } = {}) {
    this.writers++
    try {
      await this.writeAll(events, keys, options)
    } finally {
      this.writers--
      this.writerIdle?.()
    }
  }

  private async writeAll(
    events: number,
    keys: number,
    options: { perTransaction?: number; perSecond?: number },
  ): Promise<void> {
    const perTransaction = options.perTransaction ?? 20
    const pause = options.perSecond ? (1000 * perTransaction) / options.perSecond : 0
    for (let written = 0; written < events; written += perTransaction) {
      const rows: ChaosRow[] = []
      for (let i = 0; i < Math.min(perTransaction, events - written); i++) {
        const key = `k${between(0, keys)}`
        const seq = (this.seqs.get(key) ?? 0) + 1
        this.seqs.set(key, seq)
        rows.push({ key, seq, customer: `c${seq}` })
      }
      await this.transaction((client) => this.outbox.enqueueMany(client, this.event, rows))
      if (pause > 0) await sleep(pause)
      if (this.gate !== null) {
        this.writerIdle?.()
        await this.gate
      }
    }
  }

  /**
   * A Postgres outage for this database: the writer pauses between transactions, every
   * connection to the database is terminated and new ones are refused for `ms`, then allowed again.
   */
  async databaseOutage(ms: number): Promise<void> {
    await this.withWriterPaused(async () => {
      const name = new URL(this.db.url).pathname.slice(1)
      const admin = new pg.Client({ connectionString: stack.databaseUrl })
      await admin.connect()
      try {
        await admin.query(`alter database "${name}" with allow_connections false`)
        await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [name])
        await sleep(ms)
        await admin.query(`alter database "${name}" with allow_connections true`)
      } finally {
        await admin.end()
      }
    })
  }

  /**
   * Runs `fault` while the writer waits between two transactions, so no write of the test
   * itself is caught in the fault (its outcome would be unknown); relays keep working through it.
   */
  async withWriterPaused(fault: () => Promise<void>): Promise<void> {
    let reopen = () => {}
    const writerPaused = new Promise<void>((resolve) => {
      this.writerIdle = resolve
    })
    this.gate = new Promise<void>((resolve) => {
      reopen = resolve
    })
    // Waits for the writer to finish its transaction, however long a loaded machine takes.
    if (this.writers > 0) await writerPaused
    try {
      await fault()
    } finally {
      this.gate = null
      this.writerIdle = null
      reopen()
    }
  }

  /** Enqueues one event for `key` inside the caller's open transaction. */
  async writeIn(client: pg.ClientBase, key: string): Promise<void> {
    const seq = (this.seqs.get(key) ?? 0) + 1
    this.seqs.set(key, seq)
    await this.outbox.enqueue(client, this.event, { key, seq, customer: `c${seq}` })
  }

  /** A row written by an older application version that the current mapping rejects. */
  async writePoison(key: string): Promise<void> {
    const seq = (this.seqs.get(key) ?? 0) + 1
    this.seqs.set(key, seq)
    await this.pool.query(
      `insert into postbox.outbox (event_id, event_type, topic, key, payload)
       values (gen_random_uuid(), 'chaos.changed', $1, $2, $3)`,
      [this.topic, key, { key, seq, customer: 'poison' }],
    )
  }

  async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect()
    try {
      await client.query('begin')
      const result = await work(client)
      await client.query('commit')
      return result
    } catch (error) {
      await client.query('rollback')
      throw error
    } finally {
      client.release()
    }
  }

  async pendingRows(): Promise<number> {
    const { rows } = await this.pool.query(
      "select count(*)::int as n from postbox.outbox where status = 'pending'",
    )
    return (rows[0] as { n: number }).n
  }

  /**
   * Rows published and marked: counted as `sent` rows, or, when the relays delete what they
   * publish (CHAOS_SENT_ROWS=delete), as the rows written that have left the outbox.
   */
  async sentRows(): Promise<number> {
    if (this.relayEnv.CHAOS_SENT_ROWS !== 'delete') {
      const { rows } = await this.pool.query(
        "select count(*)::int as n from postbox.outbox where status = 'sent'",
      )
      return (rows[0] as { n: number }).n
    }
    const { rows } = await this.pool.query('select count(*)::int as n from postbox.outbox')
    return this.written() - (rows[0] as { n: number }).n
  }

  /** Rows the test has written: each key's events carry seq 1, 2, … */
  private written(): number {
    let total = 0
    for (const seq of this.seqs.values()) total += seq
    return total
  }

  /** Rows sent and bytes of relay logs: changes while a relay starts, takes shards over or publishes. */
  async relayProgress(): Promise<string> {
    return `${await this.sentRows()} row(s) sent, ${this.relayOutput} byte(s) of relay log`
  }

  /** Waits until relays have marked more rows sent than `than`, i.e. one is really publishing. */
  async waitForProgress(than: number): Promise<number> {
    return waitWhileProgressing(
      'the relay to publish',
      async () => {
        const sent = await this.sentRows()
        return sent > than ? sent : undefined
      },
      () => this.relayProgress(),
    )
  }

  /** Waits until at most `allowPending` rows are pending; fails only when relays stop making progress. */
  async waitUntilDrained(allowPending = 0): Promise<void> {
    await waitWhileProgressing(
      'the outbox to drain',
      async () => ((await this.pendingRows()) <= allowPending ? true : undefined),
      () => this.relayProgress(),
    )
  }

  async terminateRelayConnections(): Promise<number> {
    const { rows } = await this.pool.query(
      `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
       where datname = current_database() and application_name like 'postbox-relay%'`,
    )
    return (rows[0] as { n: number }).n
  }

  /**
   * Reads the topic with an independent consumer and checks that every row the test wrote is
   * there, unless it still waits in the outbox (pending or parked), and that no key went
   * backwards. Returns the duplicate count (at-least-once redeliveries).
   */
  async verify(
    options: { reader?: 'kafkajs' | 'java' } = {},
  ): Promise<{ rows: number; records: number; duplicates: number }> {
    const { rows } = await this.pool.query(
      `select key, (payload->>'seq')::int as seq from postbox.outbox where status <> 'sent' order by id`,
    )
    const unsent = rows as { key: string; seq: number }[]
    const waiting = new Set(unsent.map((r) => `${r.key}#${r.seq}`))
    const records =
      options.reader === 'java'
        ? await readCommittedWithJava(this.topic)
        : await readPublished({ brokers: stack.brokers, registryUrl: stack.registryUrl }, this.topic, {
            timeoutMs: 120_000,
          })
    const seenIds = new Set<string>()
    const published = new Set<string>()
    let duplicates = 0
    const lastIdByKey = new Map<string, bigint>()
    const lastSeqByKey = new Map<string, number>()
    for (const record of records) {
      const id = record.headers['outbox-id'] ?? ''
      const key = String(record.key)
      const seq = (record.value as { seq: number }).seq
      lastSeqByKey.set(key, seq)
      published.add(`${key}#${seq}`)
      if (seenIds.has(id)) {
        duplicates++
        continue
      }
      seenIds.add(id)
      const previous = lastIdByKey.get(key)
      assert.ok(
        previous === undefined || BigInt(id) > previous,
        `key ${key} went backwards: outbox id ${id} after ${previous}`,
      )
      lastIdByKey.set(key, BigInt(id))
    }
    const missing: string[] = []
    for (const [key, last] of this.seqs) {
      for (let seq = 1; seq <= last; seq++) {
        const row = `${key}#${seq}`
        if (!published.has(row) && !waiting.has(row)) missing.push(row)
      }
    }
    assert.deepEqual(
      missing.slice(0, 5),
      [],
      `${missing.length} written row(s) neither in Kafka nor in the outbox`,
    )
    for (const [key, seq] of this.seqs) {
      if (unsent.some((r) => r.key === key)) continue
      assert.equal(lastSeqByKey.get(key), seq, `the last record of ${key} is its newest state`)
    }
    return { rows: this.written(), records: records.length, duplicates }
  }
}

/**
 * Runs one scenario in a world of its own, then checks with an independent consumer that every
 * row reached Kafka in key order; in exactly-once mode a read_committed reader must see no duplicate.
 */
export async function runScenario(
  name: string,
  run: (world: ChaosWorld) => Promise<void>,
  options: {
    exactlyOnce?: boolean
    /** The relays delete the rows they publish (relay.sentRows: 'delete'). */
    deleteSent?: boolean
    database?: { url: string; drop(): Promise<void> }
  } = {},
): Promise<void> {
  const world = await ChaosWorld.create(
    {
      ...(options.exactlyOnce ? { CHAOS_DELIVERY: 'exactly-once' } : {}),
      ...(options.deleteSent ? { CHAOS_SENT_ROWS: 'delete' } : {}),
    },
    options.database,
  )
  try {
    await run(world)
    const result = await world.verify({ reader: options.exactlyOnce ? 'java' : 'kafkajs' })
    console.log(
      `# chaos ${name}: ${result.rows} rows written, ${result.records} records in Kafka, ${result.duplicates} duplicate(s)`,
    )
    if (result.duplicates > 0) console.log(`# duplicates in topic ${world.topic}`)
    if (options.exactlyOnce) assert.equal(result.duplicates, 0, 'read_committed consumers see every row once')
  } finally {
    if (!process.env.CHAOS_KEEP) await world.close()
  }
}

/**
 * Reads a topic with Kafka's own Java client in read_committed mode. kafkajs 2.2.4's consumer
 * lets some records of aborted transactions through, so exactly-once is judged by the reference client.
 */
async function readCommittedWithJava(topic: string) {
  const result = spawnSync(
    'java',
    [
      // Kafka 3.9's jars log through log4j 1.x, 4.x's through Log4j2: each reads its own flag.
      '-Dlog4j.configuration=file:scripts/stack.d/tools-log4j.properties',
      '-Dlog4j2.configurationFile=file:scripts/stack.d/tools-log4j2.properties',
      '-cp',
      `${process.env.STACK_DIR ?? '.stack'}/kafka/libs/*`,
      'test/chaos/java/ReadCommitted.java',
      topic,
    ],
    {
      encoding: 'utf8',
      timeout: 180_000,
      maxBuffer: 256 * 1024 * 1024,
      env: { ...process.env, KAFKA_BROKERS: stack.brokers.join(',') },
    },
  )
  assert.equal(result.status, 0, `the Java reader failed: ${result.stderr.slice(-2000)}`)
  const registry = createRegistryClient(stack.registryUrl)
  const lines = result.stdout.split('\n').filter((l) => l.startsWith('{'))
  return Promise.all(
    lines.map(async (line) => {
      const r = JSON.parse(line) as {
        partition: number
        key: string
        outboxId: string
        eventId: string
        value: string | null
      }
      return {
        key: r.key,
        headers: { 'outbox-id': r.outboxId, 'event-id': r.eventId } as Record<string, string>,
        value: r.value === null ? null : await registry.decode(Buffer.from(r.value, 'base64')),
      }
    }),
  )
}
