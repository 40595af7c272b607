import { hostname } from 'node:os'
import type { ResolvedConfig } from '../config.js'
import { notifyChannel } from '../db/notify.js'
import type { ClaimedRow } from '../db/outbox-queries.js'
import { describeError, isRetriable, UnavailableError, UnpublishableError } from '../errors.js'
import type { KafkaConnection } from '../kafka/ports.js'
import { createLogger, type Logger } from '../observe/logger.js'
import { Backoff } from './backoff.js'
import { BlockedKeys } from './blocked-keys.js'
import { databaseFromConfig, kafkaFromConfig, registryFromConfig } from './defaults.js'
import { Degradation } from './degradation.js'
import { encodeRow, type SchemaIds } from './encode-row.js'
import { ExactlyOncePublisher } from './exactly-once-publisher.js'
import { type FailedDependency, failedDependency } from './failed-dependency.js'
import { ShardLeases } from './leases.js'
import {
  type Clock,
  type Listener,
  type RelayDatabase,
  type RelayQueries,
  relayQueries,
  type SchemaIdResolver,
  systemClock,
} from './ports.js'
import { AtLeastOncePublisher, type Encoded, type Publisher, type PublishOutcome } from './publishers.js'
import { type ScheduledJob, scheduleRetention } from './schedule.js'
import { type StallReason, StallWatch } from './stall.js'
import { Wakeup } from './wakeup.js'

export type { StallReason }

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

/** A failed step of the relay: which dependency failed, and whether the relay backs off and retries it. */
export interface FailureReport {
  dependency: FailedDependency
  retriable: boolean
  /** False when the failure stops the relay (a verdict at start-up) or the relay is stopping. */
  retrying: boolean
}

export interface RelayHooks {
  onBatch?(report: BatchReport): void
  onFailure?(report: FailureReport): void
}

/** What a Relay is built from; each part left out is built from the config. */
export interface RelayParts {
  db?: RelayDatabase
  kafka?: KafkaConnection
  registry?: SchemaIdResolver
  /** The named queries run on `db` (default: the SQL in src/db/ for the config's schema). */
  queries?: RelayQueries
  logger?: Logger
  clock?: Clock
  hooks?: RelayHooks
}

/** Claims settled outbox rows, maps and encodes them, publishes them to Kafka and marks them sent. */
export class Relay {
  private readonly logger: Logger
  private readonly db: RelayDatabase
  private readonly kafka: KafkaConnection
  private readonly registry: SchemaIdResolver
  private readonly queries: RelayQueries
  private readonly clock: Clock
  private readonly hooks: RelayHooks
  private readonly leases: ShardLeases
  private readonly wakeup = new Wakeup()
  private readonly backoff: Backoff
  private readonly degradation: Degradation
  private readonly stall: StallWatch
  private publisher: Publisher | null = null
  private retention: ScheduledJob | null = null
  private listener: Listener | null = null
  private schemaIds = new Map<string, SchemaIds>()
  private loop: Promise<void> | null = null
  private running = false

  constructor(
    private readonly config: ResolvedConfig,
    parts: RelayParts = {},
  ) {
    this.logger = (parts.logger ?? createLogger(config.logLevel)).child({ relay: config.relay.id })
    this.hooks = parts.hooks ?? {}
    this.clock = parts.clock ?? systemClock
    this.db = parts.db ?? databaseFromConfig(config)
    this.kafka = parts.kafka ?? kafkaFromConfig(config, this.logger)
    this.registry = parts.registry ?? registryFromConfig(config)
    this.queries = parts.queries ?? relayQueries(config.schema)
    this.backoff = new Backoff(config.relay.backoff.initialMs, config.relay.backoff.maxMs)
    this.degradation = new Degradation(this.logger, this.clock)
    this.stall = new StallWatch(this.db, this.queries, config.relay.stallWarningMs, this.logger, this.clock)
    this.leases = new ShardLeases(
      this.db,
      this.queries.leases,
      config.relay.id,
      config.relay.leaseTtlMs,
      config.relay.heartbeatMs,
      this.logger,
      { host: hostname(), pid: process.pid },
    )
  }

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
    const degraded = this.degradation.reason
    return {
      running: this.running,
      ready: this.running && degraded === null,
      reason: degraded ?? this.stall.describe(),
      shards: this.leases.shards,
      stall: this.stall.current,
    }
  }

  private async prepare(): Promise<void> {
    const ids = new Map<string, SchemaIds>()
    for (const event of this.config.catalog.events) {
      const options = { compatibility: event.compatibility, autoRegister: this.config.relay.autoRegister }
      const value = await this.registry.resolveSchemaId(event.subject, event.valueCodec.schemaText, options)
      const key =
        event.keySubject === undefined || event.keyCodec === undefined
          ? undefined
          : await this.registry.resolveSchemaId(event.keySubject, event.keyCodec.schemaText, options)
      ids.set(event.type, { value, key })
      this.logger.info({ eventType: event.type, subject: event.subject, schemaId: value }, 'schema resolved')
    }
    this.schemaIds = ids
    const eventTypes = this.config.catalog.events.map(({ type, topic }) => ({ type, topic }))
    await this.queries.eventTypes.upsertEventTypes(this.db, eventTypes)
    if (this.config.relay.createTopics) {
      const specs = new Map(
        this.config.catalog.events.map((e) => [
          e.topic,
          { topic: e.topic, cleanupPolicy: e.cleanupPolicy, partitions: this.config.relay.topicPartitions },
        ]),
      )
      const created = await this.kafka.ensureTopics([...specs.values()])
      if (created.length > 0) this.logger.info({ topics: created }, 'created topics')
    }
    this.publisher = await this.createPublisher()
  }

  private async createPublisher(): Promise<Publisher> {
    if (this.config.relay.delivery !== 'exactly-once') return new AtLeastOncePublisher(this.kafka.producer())
    const prefix = this.config.relay.transactionalIdPrefix
    await this.kafka.ensureTopics([
      { topic: `${prefix}.progress`, cleanupPolicy: 'compact', partitions: await this.leases.shardTotal() },
    ])
    return new ExactlyOncePublisher({
      kafka: this.kafka,
      db: this.db,
      queries: this.queries,
      relayId: this.config.relay.id,
      prefix,
      logger: this.logger,
    })
  }

  private async startListening(): Promise<void> {
    try {
      this.listener = await this.db.listen(
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

  /** Runs `step` until it succeeds or the relay stops; failures back off with jitter. */
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
        const retriable = isRetriable(error)
        // Failure hook (metrics): report before giving up or backing off.
        const retrying = this.running && !(options.fatalStops && !retriable)
        this.hooks.onFailure?.({ dependency: failedDependency(error), retriable, retrying })
        if (options.fatalStops && !retriable) throw error
        const retryInMs = this.backoff.next()
        this.degradation.failed(what, error, { retriable, retryInMs })
        if (!this.running) return
        await this.wakeup.sleep(retryInMs)
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
          this.degradation.recovered()
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

  /** One claim → encode/park → publish → mark/fence cycle. Returns how many rows were claimed. */
  private async runBatch(trigger: BatchReport['trigger']): Promise<number> {
    const publisher = this.publisher
    if (publisher === null) throw new UnavailableError('kafka', 'the relay is not started')
    const rows = await this.claim(publisher)
    if (rows.length === 0) return 0
    const blocked = new BlockedKeys()
    const { batch, parked: parkedEarly } = await this.encodeOrPark(rows, blocked)
    if (!this.leases.safeToPublish()) {
      // Our leases may have expired while we worked; renew before publishing anything.
      await this.leases.maintain(true)
      return rows.length
    }
    const outcome = await publisher.publish(batch, blocked)
    const parked = parkedEarly + (await this.parkRefused(outcome.refused, blocked))
    await this.markAndFence(publisher, outcome)
    this.report(trigger, outcome.sent, parked)
    this.logger.debug({ claimed: rows.length, published: outcome.sent.length, parked }, 'batch done')
    if (outcome.failure !== undefined) throw outcome.failure
    return rows.length
  }

  /** Claims settled rows of the shards ready to publish; with none, checks for a stall. */
  private async claim(publisher: Publisher): Promise<ClaimedRow[]> {
    const shards = await publisher.sync(this.leases.leases)
    if (shards.length === 0) return []
    const rows = await this.queries.outbox.claimPendingBatch(this.db, shards, this.config.relay.batchSize)
    if (rows.length === 0) await this.stall.check(shards)
    else this.stall.clear()
    return rows
  }

  /** Maps and encodes each row; a row that cannot be published is parked and blocks its key. */
  private async encodeOrPark(
    rows: readonly ClaimedRow[],
    blocked: BlockedKeys,
  ): Promise<{ batch: Encoded[]; parked: number }> {
    const batch: Encoded[] = []
    let parked = 0
    for (const row of rows) {
      if (blocked.isBlocked(row)) continue
      try {
        const message = encodeRow(row, this.config.catalog, this.schemaIds, this.config.relay.maxMessageBytes)
        batch.push({ row, message })
      } catch (error) {
        if (!(error instanceof UnpublishableError)) throw error
        if (await this.park(row, error, blocked)) parked++
      }
    }
    return { batch, parked }
  }

  /**
   * Parks one row and blocks its key for this batch. A failed park never fails the batch: the row
   * stays pending, its key waits, and the next batch tries again. Returns whether it was parked.
   */
  private async park(row: ClaimedRow, error: UnpublishableError, blocked: BlockedKeys): Promise<boolean> {
    blocked.block(row)
    const fields = { outboxId: row.id, eventType: row.event_type, key: row.key, err: describeError(error) }
    try {
      // Fenced like markSent: when the shard's lease moved on, its new holder decides about the row.
      const parked = await this.queries.outbox.parkRow(
        this.db,
        row.id,
        describeError(error),
        this.leases.leases,
        this.config.relay.id,
      )
      if (!parked) return false
    } catch (parkError) {
      this.logger.error(
        { ...fields, parkErr: describeError(parkError) },
        'could not park a row that cannot be published; it stays pending and its key waits',
      )
      return false
    }
    this.logger.error(
      fields,
      'parked a row that cannot be published; later rows of its key wait (postbox parked retry|skip)',
    )
    return true
  }

  /** Parks the rows Kafka refused; returns how many were parked. */
  private async parkRefused(refused: PublishOutcome['refused'], blocked: BlockedKeys): Promise<number> {
    let parked = 0
    for (const { row, error } of refused) {
      if (await this.park(row, error, blocked)) parked++
    }
    return parked
  }

  /** Marks published rows sent under the leases held; shards fenced in Kafka or Postgres are dropped. */
  private async markAndFence(publisher: Publisher, outcome: PublishOutcome): Promise<void> {
    this.leases.drop(outcome.lostShards, 'fenced: a newer producer holds the shard')
    const sent = outcome.sent
    const shards = [...new Set(sent.map((r) => r.shard))]
    let marked: string[]
    try {
      marked = await this.queries.outbox.markSent(
        this.db,
        sent.map((r) => r.id),
        this.leases.leases,
        this.config.relay.id,
      )
    } catch (error) {
      await publisher.markFailed(shards)
      throw error
    }
    if (marked.length < sent.length) {
      const markedIds = new Set(marked)
      const lost = [...new Set(sent.filter((r) => !markedIds.has(r.id)).map((r) => r.shard))]
      this.leases.drop(lost, 'fenced: another relay holds a newer epoch')
    }
    await publisher.afterMarked(shards)
  }

  private report(trigger: BatchReport['trigger'], sent: readonly ClaimedRow[], parked: number): void {
    const now = this.clock.now()
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
  }
}
