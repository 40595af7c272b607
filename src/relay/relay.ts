import { hostname } from 'node:os'
import type { ResolvedConfig } from '../config.js'
import { leaseQueries, oldestOpenTransaction } from '../db/lease-queries.js'
import { type ClaimedRow, outboxQueries } from '../db/outbox-queries.js'
import { type Database, isRetriablePgError, type Listener, listen, openDatabase } from '../db/pool.js'
import { progressQueries } from '../db/progress-queries.js'
import { notifyChannel } from '../enqueue.js'
import { describeError, isRetriable, UnavailableError, UnpublishableError } from '../errors.js'
import { ensureTopics } from '../kafka/admin.js'
import { kafkaClient } from '../kafka/client.js'
import { createEventProducer } from '../kafka/producer.js'
import { createLogger, type Logger } from '../observe/logger.js'
import { createRegistryClient } from '../schema/registry.js'
import { Backoff } from './backoff.js'
import { encodeRow, type SchemaIds } from './encode-row.js'
import { ShardLeases } from './leases.js'
import {
  atLeastOncePublisher,
  type Encoded,
  exactlyOncePublisher,
  orderingKey,
  type Publisher,
} from './publishers.js'
import { type ScheduledJob, scheduleRetention } from './schedule.js'
import { Wakeup } from './wakeup.js'

/** What the relay is waiting on, when it is: an open transaction holding back settled rows. */
export interface StallReason {
  pendingRows: number
  oldestSeconds: number
  transaction: {
    pid: number
    state: string | null
    ageSeconds: number
    queryStart: Date | null
    query: string | null
  } | null
}

export interface RelayHealth {
  running: boolean
  ready: boolean
  reason: string | null
  shards: number[]
  stall: StallReason | null
}

export interface BatchReport {
  /** What started the claim: a NOTIFY from enqueue, a poll timer, or the previous batch being full. */
  trigger: 'notify' | 'poll' | 'continue'
  published: number
  parked: number
  /** Published rows with their commit→ack latency in seconds. */
  rows: { topic: string; eventType: string; latencySeconds: number }[]
}

export interface RelayHooks {
  onBatch?(report: BatchReport): void
}

/** Claims settled outbox rows, maps and encodes them, publishes them to Kafka and marks them sent. */
export class Relay {
  private readonly logger: Logger
  private readonly db: Database
  private readonly outbox
  private readonly leases: ShardLeases
  private readonly wakeup = new Wakeup()
  private readonly backoff: Backoff
  private publisher: Publisher | null = null
  private retention: ScheduledJob | null = null
  private listener: Listener | null = null
  private schemaIds = new Map<string, SchemaIds>()
  private loop: Promise<void> | null = null
  private running = false
  private degraded: string | null = 'starting'
  private stall: StallReason | null = null
  private lastStallCheck = 0

  constructor(
    private readonly config: ResolvedConfig,
    options: { logger?: Logger; hooks?: RelayHooks } = {},
  ) {
    this.logger = (options.logger ?? createLogger(config.logLevel)).child({ relay: config.relay.id })
    this.hooks = options.hooks ?? {}
    this.db = openDatabase(config.databaseUrl, `postbox-relay ${config.relay.id}`)
    this.outbox = outboxQueries(config.schema)
    this.backoff = new Backoff(config.relay.backoff.initialMs, config.relay.backoff.maxMs)
    this.leases = new ShardLeases(
      this.db,
      leaseQueries(config.schema),
      config.relay.id,
      config.relay.leaseTtlMs,
      config.relay.heartbeatMs,
      this.logger,
      { host: hostname(), pid: process.pid },
    )
  }

  private readonly hooks: RelayHooks

  /** Resolves schema ids, creates topics, then runs the loop in the background. Idempotent. */
  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    await this.retrying('start-up', () => this.prepare(), { fatalStops: true })
    if (!this.running) return
    if (this.config.relay.listen) await this.startListening()
    const retention = this.config.relay.retention
    if (retention !== null) {
      this.retention = scheduleRetention(
        { databaseUrl: this.config.databaseUrl, schema: this.config.schema, ...retention },
        this.logger,
      )
    }
    this.loop = this.run()
  }

  /** Finishes the batch in flight, marks it, releases the leases and closes connections. Idempotent. */
  async stop(): Promise<void> {
    this.running = false
    this.retention?.stop()
    this.retention = null
    this.wakeup.notify()
    await this.loop
    this.loop = null
    await this.leases
      .releaseAll()
      .catch((error) => this.logger.warn({ err: describeError(error) }, 'releasing leases failed'))
    await this.listener?.close()
    this.listener = null
    await this.publisher?.close()
    this.publisher = null
    await this.db.close()
    this.logger.info({}, 'relay stopped')
  }

  health(): RelayHealth {
    const stallReason =
      this.stall === null
        ? null
        : `waiting on an open transaction (pid ${this.stall.transaction?.pid ?? '?'}, ${Math.round(this.stall.transaction?.ageSeconds ?? 0)} s old) before ${this.stall.pendingRows} row(s)`
    return {
      running: this.running,
      ready: this.running && this.degraded === null,
      reason: this.degraded ?? stallReason,
      shards: this.leases.shards,
      stall: this.stall,
    }
  }

  private async prepare(): Promise<void> {
    const registry = createRegistryClient(this.config.registry.url)
    const ids = new Map<string, SchemaIds>()
    for (const event of this.config.catalog.events) {
      const options = { compatibility: event.compatibility, autoRegister: this.config.relay.autoRegister }
      const value = await registry.resolveSchemaId(event.subject, event.valueCodec.schemaText, options)
      const key =
        event.keySubject === undefined || event.keyCodec === undefined
          ? undefined
          : await registry.resolveSchemaId(event.keySubject, event.keyCodec.schemaText, options)
      ids.set(event.type, { value, key })
      this.logger.info({ eventType: event.type, subject: event.subject, schemaId: value }, 'schema resolved')
    }
    this.schemaIds = ids
    const kafka = kafkaClient(this.config.kafka.brokers, this.config.kafka.clientId, this.logger)
    if (this.config.relay.createTopics) {
      const specs = new Map(
        this.config.catalog.events.map((e) => [
          e.topic,
          { topic: e.topic, cleanupPolicy: e.cleanupPolicy, partitions: this.config.relay.topicPartitions },
        ]),
      )
      const created = await ensureTopics(kafka, [...specs.values()])
      if (created.length > 0) this.logger.info({ topics: created }, 'created topics')
    }
    if (this.config.relay.delivery === 'exactly-once') {
      const prefix = this.config.relay.transactionalIdPrefix
      await ensureTopics(kafka, [
        { topic: `${prefix}.progress`, cleanupPolicy: 'compact', partitions: await this.leases.shardTotal() },
      ])
      this.publisher = exactlyOncePublisher({
        kafka,
        db: this.db,
        outbox: this.outbox,
        progress: progressQueries(this.config.schema),
        relayId: this.config.relay.id,
        prefix,
        logger: this.logger,
      })
    } else {
      this.publisher = atLeastOncePublisher(createEventProducer(kafka))
    }
  }

  private async startListening(): Promise<void> {
    try {
      this.listener = await listen(
        this.config.databaseUrl,
        notifyChannel(this.config.schema),
        () => this.wakeup.notify(),
        (error) => {
          // Notifications are hints: without them the relay still polls.
          this.logger.warn({ err: describeError(error) }, 'LISTEN connection lost; polling until it is back')
          this.listener = null
        },
      )
    } catch (error) {
      this.logger.warn({ err: describeError(error) }, 'LISTEN failed; polling only')
    }
  }

  /** Runs `step` until it succeeds or the relay stops; retriable failures back off with jitter. */
  private async retrying(
    what: string,
    step: () => Promise<void>,
    options: { fatalStops: boolean },
  ): Promise<void> {
    for (;;) {
      try {
        await step()
        this.backoff.reset()
        return
      } catch (error) {
        // At start-up a verdict (a schema the registry refuses, a bad setting) is final. In the
        // loop every failure backs off and retries the same rows, so nothing is ever dropped.
        const retriable = isRetriable(error) || isRetriablePgError(error)
        if (options.fatalStops && !retriable) throw error
        const delay = this.backoff.next()
        this.degraded = `${what}: ${describeError(error)}`
        const fields = { err: describeError(error), retryInMs: delay, attempt: this.backoff.failures }
        if (retriable) this.logger.warn(fields, `${what} failed`)
        else this.logger.error(fields, `${what} failed unexpectedly`)
        if (!this.running) return
        await this.wakeup.sleep(delay)
        if (!this.running) return
      }
    }
  }

  private async run(): Promise<void> {
    const { minPollIntervalMs, pollIntervalMs, batchSize } = this.config.relay
    let idleDelay = minPollIntervalMs
    let trigger: BatchReport['trigger'] = 'poll'
    while (this.running) {
      let claimed = 0
      await this.retrying(
        'relay loop',
        async () => {
          if (this.config.relay.listen && this.listener === null) await this.startListening()
          await this.leases.maintain()
          claimed = await this.runBatch(trigger)
          this.degraded = null
        },
        { fatalStops: false },
      )
      if (!this.running) break
      if (claimed >= batchSize) {
        idleDelay = minPollIntervalMs
        trigger = 'continue'
        continue
      }
      // Adaptive polling: quick re-polls right after work, backing off to pollIntervalMs when idle.
      const woken = await this.wakeup.sleep(claimed > 0 ? minPollIntervalMs : idleDelay)
      trigger = woken ? 'notify' : 'poll'
      idleDelay = woken || claimed > 0 ? minPollIntervalMs : Math.min(idleDelay * 2, pollIntervalMs)
    }
  }

  /** One claim → map+encode → produce → mark cycle. Returns how many rows were claimed. */
  private async runBatch(trigger: BatchReport['trigger']): Promise<number> {
    const publisher = this.publisher
    if (publisher === null) throw new UnavailableError('kafka', 'the relay is not started')
    const shards = await publisher.sync(this.leases.leases)
    if (shards.length === 0) return 0
    const rows = await this.outbox.claimPendingBatch(this.db, shards, this.config.relay.batchSize)
    if (rows.length === 0) {
      await this.checkStall(shards)
      return 0
    }
    this.stall = null

    const batch: Encoded[] = []
    const blockedKeys = new Set<string>()
    let parked = 0
    for (const row of rows) {
      // A row whose earlier same-key row is parked (in this batch) waits behind it.
      if (blockedKeys.has(orderingKey(row))) continue
      try {
        batch.push({
          row,
          message: encodeRow(row, this.config.catalog, this.schemaIds, this.config.relay.maxMessageBytes),
        })
      } catch (error) {
        if (!(error instanceof UnpublishableError)) throw error
        await this.park(row, error)
        blockedKeys.add(orderingKey(row))
        parked++
      }
    }

    if (!this.leases.safeToPublish()) {
      // Our leases may have expired while we worked; renew before publishing anything.
      await this.leases.maintain(true)
      return rows.length
    }
    const outcome = await publisher.publish(batch)
    for (const { row, error } of outcome.refused) await this.park(row, error)
    parked += outcome.refused.length
    this.leases.drop(outcome.lostShards, 'fenced: a newer producer holds the shard')
    const sent = outcome.sent
    const marked = await this.outbox.markSent(
      this.db,
      sent.map((r) => r.id),
      this.leases.leases,
      this.config.relay.id,
    )
    if (marked.length < sent.length) {
      const markedIds = new Set(marked)
      const lost = [...new Set(sent.filter((r) => !markedIds.has(r.id)).map((r) => r.shard))]
      this.leases.drop(lost, 'fenced: another relay holds a newer epoch')
    }
    await publisher.afterMarked([...new Set(sent.map((r) => r.shard))])
    const now = Date.now()
    this.hooks.onBatch?.({
      trigger,
      published: sent.length,
      parked,
      rows: sent.map((r) => ({
        topic: r.topic,
        eventType: r.event_type,
        latencySeconds: (now - r.created_at.getTime()) / 1000,
      })),
    })
    this.logger.debug({ claimed: rows.length, published: sent.length, parked }, 'batch done')
    if (outcome.failure !== undefined) throw outcome.failure
    return rows.length
  }

  private async park(row: ClaimedRow, error: UnpublishableError): Promise<void> {
    this.logger.error(
      { outboxId: row.id, eventType: row.event_type, key: row.key, err: error.message },
      'parked a row that cannot be published; later rows of its key wait (postbox parked retry|skip)',
    )
    await this.outbox.parkRow(this.db, row.id, error.message)
  }

  private async checkStall(shards: number[]): Promise<void> {
    const now = Date.now()
    if (now - this.lastStallCheck < 1000) return
    this.lastStallCheck = now
    const unsettled = await this.outbox.unsettledRows(this.db, shards)
    if (unsettled.rows === 0 || (unsettled.oldestSeconds ?? 0) * 1000 < this.config.relay.stallWarningMs) {
      this.stall = null
      return
    }
    const tx = await oldestOpenTransaction(this.db, unsettled.holderPid)
    const wasStalled = this.stall !== null
    this.stall = {
      pendingRows: unsettled.rows,
      oldestSeconds: unsettled.oldestSeconds ?? 0,
      transaction:
        tx === null
          ? null
          : {
              pid: tx.pid,
              state: tx.state,
              ageSeconds: tx.age_seconds,
              queryStart: tx.query_start,
              query: tx.query,
            },
    }
    if (!wasStalled) {
      this.logger.warn(
        { ...this.stall },
        'committed rows wait behind an open transaction that holds the xid horizon; end or commit it',
      )
    }
  }
}
