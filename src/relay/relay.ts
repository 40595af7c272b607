import { hostname } from 'node:os'
import type { ResolvedConfig } from '../config.js'
import { notifyChannel } from '../db/notify.js'
import type { ClaimedRow } from '../db/outbox-queries.js'
import { describeError, isRetriable, UnavailableError } from '../errors.js'
import type { KafkaConnection } from '../kafka/ports.js'
import { createLogger, type Logger } from '../observe/logger.js'
import { Backoff } from './backoff.js'
import { databaseFromConfig, kafkaFromConfig, registryFromConfig } from './defaults.js'
import { Degradation } from './degradation.js'
import { encodeRow, type SchemaIds } from './encode-row.js'
import { ExactlyOncePublisher } from './exactly-once-publisher.js'
import { failedDependency } from './failed-dependency.js'
import { ShardLeases } from './leases.js'
import { Parking } from './parking.js'
import { claimWasFull, emptyBatch, holdUnsettled, type PreparedBatch, publishable } from './pipeline.js'
import {
  type Clock,
  type Listener,
  type RelayDatabase,
  type RelayQueries,
  relayQueries,
  type SchemaIdResolver,
  systemClock,
} from './ports.js'
import { AtLeastOncePublisher, type Publisher, type PublishOutcome } from './publishers.js'
import type { BatchReport, FailureReport, RelayHealth, RelayHooks, RelayParts } from './relay-types.js'
import { type ScheduledJob, scheduleRetention } from './schedule.js'
import { type StallReason, StallWatch } from './stall.js'
import { resolveTransactionalIdPrefix } from './transactional-id.js'
import { Wakeup } from './wakeup.js'

export type { BatchReport, FailureReport, RelayHealth, RelayHooks, RelayParts, StallReason }

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
  private readonly parking: Parking
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
    this.queries = parts.queries ?? relayQueries(config.schema, config.relay.sentRows)
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
    this.parking = new Parking(this.db, this.queries, this.leases, config.relay.id, this.logger)
  }

  /** Resolves schema ids, creates topics, then runs the loop in the background. Idempotent. */
  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    await this.retrying('start-up', () => this.prepare(), { fatalStops: true })
    if (this.running && this.config.relay.listen) await this.startListening()
    if (!this.running) return
    const retention = this.config.relay.retention
    if (retention !== null) {
      this.retention = scheduleRetention(
        { databaseUrl: this.config.databaseUrl, schema: this.config.schema, ...retention },
        this.logger,
      )
    }
    this.loop = this.run()
  }

  /**
   * Finishes the batch in flight and marks it (a batch prepared meanwhile is dropped unpublished,
   * its rows stay pending), releases the leases and closes connections. Idempotent.
   */
  async stop(): Promise<void> {
    this.running = false
    await this.retention?.stop()
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
    await this.queries.outbox.checkMarkTables(this.db)
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
    if (this.config.relay.delivery !== 'exactly-once') {
      // Connected here, so a wrong password or an untrusted certificate stops start-up even when
      // no topic is created (createTopics: false) and no row is waiting.
      const producer = this.kafka.producer()
      await producer.connect()
      // One request holds at most what one record may be: under the broker's message.max.bytes.
      return new AtLeastOncePublisher(producer, this.config.relay.maxMessageBytes)
    }
    const prefix = await resolveTransactionalIdPrefix(this.config, this.db, this.queries)
    this.logger.info({ transactionalIdPrefix: prefix }, 'exactly-once: transactional ids <prefix>.<shard>')
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
      maxRequestBytes: this.config.relay.maxMessageBytes,
    })
  }

  private async startListening(): Promise<void> {
    try {
      const listener = await this.db.listen(
        notifyChannel(this.config.schema),
        () => this.wakeup.notify(),
        (error) => {
          // Notifications are hints: without them the relay still polls.
          this.logger.warn({ err: describeError(error) }, 'LISTEN connection lost; polling until it is back')
          this.listener = null
        },
      )
      // stop() may have run meanwhile: then nothing else would close this connection.
      if (this.running) this.listener = listener
      else await listener.close()
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
        // A step cut short by stop() (its connections closed under it) is no verdict.
        if (!this.running) return
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
    const { minPollIntervalMs, pollIntervalMs } = this.config.relay
    let idleDelay = minPollIntervalMs
    let trigger: BatchReport['trigger'] = 'poll'
    // The batch claimed and encoded while the previous one was produced (pipelining).
    let next: PreparedBatch | null = null
    while (this.running) {
      let claimed = 0
      let full = false
      await this.retrying(
        'relay loop',
        async () => {
          if (this.config.relay.listen && this.listener === null) await this.startListening()
          await this.leases.maintain()
          // A failed step drops the prepared batch: its rows stay pending and are claimed again.
          const current = next ?? (await this.prepareBatch(trigger, null))
          next = null
          claimed = current.claimed.length
          full = current.full
          next = await this.runBatch(current)
          this.degradation.recovered()
        },
        { fatalStops: false },
      )
      if (!this.running) break
      if (full || next !== null) {
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

  /**
   * Publishes and marks a prepared batch. In at-least-once mode, when the batch was full, the next
   * one is claimed and encoded meanwhile (src/relay/pipeline.ts) and returned to be published next.
   * Exactly-once stays one batch at a time: each batch is a Kafka transaction per shard whose
   * progress the next claim's `sync` reads.
   */
  private async runBatch(current: PreparedBatch): Promise<PreparedBatch | null> {
    if (current.claimed.length === 0) return null
    const pipelined = this.config.relay.delivery !== 'exactly-once' && current.full && current.held === 0
    const [marked, prepared] = await Promise.allSettled([
      this.publishAndMark(current),
      pipelined ? this.prepareBatch('continue', current) : Promise.resolve(null),
    ])
    if (marked.status === 'rejected') throw marked.reason
    if (prepared.status === 'rejected') throw prepared.reason
    if (marked.value === null || prepared.value === null) return null
    return holdUnsettled(prepared.value, current, marked.value)
  }

  /** Claims settled rows of the shards ready (skipping the ids of `inFlight`) and encodes or parks them. */
  private async prepareBatch(trigger: BatchReport['trigger'], inFlight: PreparedBatch | null) {
    const publisher = this.publisher
    if (publisher === null) throw new UnavailableError('kafka', 'the relay is not started')
    const { batchSize, maxBatchBytes } = this.config.relay
    const prepared = emptyBatch(trigger, this.leases.leases)
    if (!this.running) return prepared
    const shards = await publisher.sync(prepared.leases)
    if (shards.length === 0) return prepared
    const claimed = await this.queries.outbox.claimPendingBatch(this.db, shards, batchSize, {
      exclude: inFlight?.claimed.map((r) => r.id) ?? [],
      maxBytes: maxBatchBytes,
    })
    if (claimed.length === 0 && inFlight === null) await this.stall.check(shards)
    else if (claimed.length > 0) this.stall.clear()
    const encode = (row: ClaimedRow) =>
      encodeRow(row, this.config.catalog, this.schemaIds, this.config.relay.maxMessageBytes)
    const { batch, parked } = await this.parking.encodeOrPark(claimed, prepared.blocked, encode)
    return { ...prepared, claimed, batch, parked, full: claimWasFull(claimed, batchSize, maxBatchBytes) }
  }

  /** Publish → park refused → mark/fence. Returns the ids marked sent; null when nothing was published. */
  private async publishAndMark(prepared: PreparedBatch): Promise<ReadonlySet<string> | null> {
    const publisher = this.publisher
    if (publisher === null) throw new UnavailableError('kafka', 'the relay is not started')
    if (!this.leases.safeToPublish()) {
      // Our leases may have expired while we worked; renew before publishing anything.
      await this.leases.maintain(true)
      return null
    }
    const outcome = await publisher.publish(publishable(prepared, this.leases.leases), prepared.blocked)
    const parked = prepared.parked + (await this.parking.parkRefused(outcome.refused, prepared.blocked))
    const marked = await this.markAndFence(publisher, outcome)
    this.report(prepared, outcome.sent, parked)
    const counts = { claimed: prepared.claimed.length, published: outcome.sent.length, parked }
    this.logger.debug(counts, 'batch done')
    if (outcome.failure !== undefined) throw outcome.failure
    return marked
  }

  /** Marks published rows sent under the leases held; shards fenced in Kafka or Postgres are dropped. */
  private async markAndFence(publisher: Publisher, outcome: PublishOutcome): Promise<ReadonlySet<string>> {
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
    const markedIds = new Set(marked)
    if (marked.length < sent.length) {
      const lost = [...new Set(sent.filter((r) => !markedIds.has(r.id)).map((r) => r.shard))]
      this.leases.drop(lost, 'fenced: another relay holds a newer epoch')
    }
    await publisher.afterMarked(shards)
    return markedIds
  }

  private report(prepared: PreparedBatch, sent: readonly ClaimedRow[], parked: number): void {
    const now = this.clock.now()
    this.hooks.onBatch?.({
      trigger: prepared.trigger,
      claimed: prepared.claimed.length,
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
