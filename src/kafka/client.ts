// Before kafkajs: it replaces kafkajs internals that kafkajs captures when it loads.
import './kafkajs-tuning.js'
import { createRequire } from 'node:module'
import {
  type ICustomPartitioner,
  Kafka,
  type KafkaConfig,
  type LogEntry,
  logLevel,
  type Message,
  Partitioners,
  type Producer,
  type RecordMetadata,
  type Transaction,
} from 'kafkajs'
import { type KafkaSecurity, NO_KAFKA_SECURITY } from '../connect/kafka-security.js'
import { UnavailableError } from '../errors.js'
import type { Logger } from '../observe/logger.js'
import { classifyKafkaError, kafkaFailureName, kafkaSecurityFailure } from './classify.js'
import { partitionForKey } from './murmur2.js'
import type {
  Delivery,
  EventProducer,
  KafkaConnection,
  OutgoingMessage,
  ReadOptions,
  ReadRecord,
  ShardProducer,
  TopicSpec,
} from './ports.js'

/**
 * kafkajs 2.2.4 schedules its idle request-queue check with `throttledUntil - Date.now()`, which is
 * a large negative number while nothing is throttled; Node 24 warns about every such timer
 * (TimeoutNegativeWarning, tulios/kafkajs#1751). This is kafkajs's method as it is, with the delay
 * given to setTimeout raised to 1 ms, the least Node waits anyway. (Raising `throttledUntil` just
 * before kafkajs's own `Date.now()` instead still warned when a millisecond passed in between.)
 */
function keepRequestQueueTimersNonNegative(): void {
  const require = createRequire(import.meta.url)
  // kafkajs's CHECK_PENDING_REQUESTS_INTERVAL: the delay when requests wait but nothing is throttled.
  const checkPendingRequestsIntervalMs = 10
  const { prototype } = require('kafkajs/src/network/requestQueue/index.js') as {
    prototype: {
      scheduleCheckPendingRequests(): void
      checkPendingRequests(): void
      throttledUntil: number
      throttleCheckTimeoutId: NodeJS.Timeout | null
      pending: unknown[]
    }
  }
  prototype.scheduleCheckPendingRequests = function (this: typeof prototype) {
    let scheduleAt = this.throttledUntil - Date.now()
    if (!this.throttleCheckTimeoutId) {
      if (this.pending.length > 0) scheduleAt = scheduleAt > 0 ? scheduleAt : checkPendingRequestsIntervalMs
      this.throttleCheckTimeoutId = setTimeout(
        () => {
          this.throttleCheckTimeoutId = null
          this.checkPendingRequests()
        },
        Math.max(1, scheduleAt),
      )
    }
  }
}
keepRequestQueueTimersNonNegative()

/** The kafkajs implementation of our Kafka port; with kafkajs-tuning.ts, the only module that imports kafkajs. */
export interface KafkaClient extends KafkaConnection {
  /** Reads every record of a topic present when called (for tooling and tests). */
  readTopic(topic: string, options?: ReadOptions): Promise<ReadRecord[]>
}

/** The partition kafkajs's partitioner chose for each message object it was handed. */
type PartitionChoices = WeakMap<Message, number>

/**
 * kafkajs acknowledges a batch with one base offset per topic-partition, but does not say which
 * partition each message went to. This partitioner records its choice, so a message's offset is
 * its partition's base offset plus its rank there. It is kafkajs's default (Java-compatible)
 * partitioner, with the key's murmur2 computed in 32-bit arithmetic (src/kafka/murmur2.ts)
 * instead of kafkajs's Long objects; messages without a key go to kafkajs's own.
 */
function recordingPartitioner(choices: PartitionChoices): ICustomPartitioner {
  return () => {
    const choose = Partitioners.DefaultPartitioner()
    return (args) => {
      const { message, partitionMetadata } = args
      const keyed = message.partition == null && message.key != null && partitionMetadata.length > 0
      const partition = keyed
        ? partitionForKey(
            typeof message.key === 'string' ? Buffer.from(message.key) : (message.key as Buffer),
            partitionMetadata.length,
          )
        : choose(args)
      choices.set(message, partition)
      return partition
    }
  }
}

/** Java's RecordMetadata uses -1 for a partition or offset the acknowledgement did not give. */
const UNKNOWN = -1

/**
 * Groups messages by topic for kafkajs's sendBatch, keeping their order within each topic, and
 * turns its acknowledgement into one Delivery per message, in the order given.
 */
function produceRequest(messages: readonly OutgoingMessage[], choices: PartitionChoices) {
  const sent = messages.map((m) => ({
    topic: m.topic,
    message: { key: m.key, value: m.value, headers: m.headers } satisfies Message,
  }))
  const byTopic = new Map<string, Message[]>()
  for (const { topic, message } of sent) {
    const list = byTopic.get(topic) ?? []
    list.push(message)
    byTopic.set(topic, list)
  }
  const topicMessages = [...byTopic].map(([topic, list]) => ({ topic, messages: list }))

  const deliveries = (acknowledged: readonly RecordMetadata[]): Delivery[] => {
    // Offsets as numbers while they are exact (below 2^53, so in practice always), else as bigints.
    const nextOffset = new Map<string, number | bigint>()
    for (const r of acknowledged) {
      if (r.baseOffset === undefined) continue
      const base = Number(r.baseOffset)
      nextOffset.set(
        `${r.topicName}\0${r.partition}`,
        Number.isSafeInteger(base + sent.length) ? base : BigInt(r.baseOffset),
      )
    }
    return sent.map(({ topic, message }) => {
      const partition = choices.get(message) ?? UNKNOWN
      const slot = `${topic}\0${partition}`
      const offset = nextOffset.get(slot)
      if (offset === undefined) return { partition, offset: String(UNKNOWN) }
      nextOffset.set(slot, typeof offset === 'number' ? offset + 1 : offset + 1n)
      return { partition, offset: String(offset) }
    })
  }
  return { topicMessages, deliveries }
}

/**
 * Producer settings, chosen by measurement: idempotent, acks=all, the same 40,000 events the
 * relay had published (~300-byte Avro values, 1,000 keys, its headers) sent again to 3-partition
 * topics with kafkajs as Postbox tunes it, three rounds per variant interleaved in one run on the
 * 2-core development machine (Postgres, Kafka and the registry on the same box):
 *
 * | compression, records per request | events/s, rounds 1..3     | client CPU per event |
 * |----------------------------------|---------------------------|----------------------|
 * | none, 1,000                      | 188,761 195,638 200,544   | 4.1–4.2 µs           |
 * | none, 1,700 (~1 MB)              | 170,796 161,285 144,981   | 5.2–5.8 µs           |
 * | none, 500                        | 127,841 130,435 133,144   | 4.4–4.8 µs           |
 * | gzip, 1,700                      | 115,299 116,586 119,008   | 7.6–7.8 µs           |
 * | gzip, 4,000                      | 119,137 110,702 121,063   | 7.1–7.8 µs           |
 *
 * - No compression: gzip (the only codec in kafkajs core) sent a third fewer events per second
 *   and took ~80% more of the client's CPU, which the relay needs for mapping and encoding;
 *   lz4/snappy/zstd need native plug-ins.
 * - Requests: the relay sends a batch in requests of at most `relay.maxMessageBytes` of records
 *   (src/relay/publishers.ts). Capping them at ~600 kB instead, to get the 1,000-record requests
 *   above, made no difference to a 300,000-row relay drain (three runs each: 32,900–33,900
 *   against 32,900–33,700 events/s), so the cap stays the broker's limit.
 * - maxInFlightRequests stays 1: kafkajs implements idempotence on the original KIP-98 rules
 *   (one request in flight keeps order), see FIELD-NOTES.
 * - linger does not apply: kafkajs sends each send at once (it has no linger setting); the relay
 *   batches by claiming up to `relay.batchSize` rows and overlaps the database with Kafka by
 *   pipelining batches (src/relay/pipeline.ts).
 */
function producerOptions(choices: PartitionChoices, transactionalId?: string) {
  return {
    idempotent: true,
    // kafkajs implements idempotence on the original KIP-98 rules: one request in flight keeps order.
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: recordingPartitioner(choices),
    ...(transactionalId === undefined ? {} : { transactionalId, transactionTimeout: 30_000 }),
  }
}

function idempotentProducer(kafka: Kafka): EventProducer {
  let producer: Producer | null = null
  const choices: PartitionChoices = new WeakMap()

  const connected = async (): Promise<Producer> => {
    if (producer !== null) return producer
    const created = kafka.producer(producerOptions(choices))
    try {
      await created.connect()
    } catch (cause) {
      await created.disconnect().catch(() => {})
      throw classifyKafkaError(cause, 'connecting the producer')
    }
    producer = created
    return created
  }

  // After a failed send the idempotent producer's sequence state is suspect: start a fresh one.
  const discard = async () => {
    const old = producer
    producer = null
    await old?.disconnect().catch(() => {})
  }

  return {
    async connect() {
      await connected()
    },
    async send(messages) {
      if (messages.length === 0) return []
      const p = await connected()
      const request = produceRequest(messages, choices)
      try {
        return request.deliveries(await p.sendBatch({ acks: -1, topicMessages: request.topicMessages }))
      } catch (cause) {
        await discard()
        throw classifyKafkaError(cause, 'publishing')
      }
    },
    close: discard,
  }
}

async function transactionalProducer(kafka: Kafka, transactionalId: string): Promise<ShardProducer> {
  const choices: PartitionChoices = new WeakMap()
  const producer = kafka.producer(producerOptions(choices, transactionalId))
  try {
    await producer.connect()
  } catch (cause) {
    await producer.disconnect().catch(() => {})
    throw classifyKafkaError(cause, `starting the transactional producer ${transactionalId}`)
  }
  return {
    async publishAtomically(requests, progress) {
      let transaction: Transaction | null = null
      const deliveries: Delivery[] = []
      try {
        transaction = await producer.transaction()
        for (const messages of requests) {
          const request = produceRequest(messages, choices)
          const acknowledged = await transaction.sendBatch({ acks: -1, topicMessages: request.topicMessages })
          deliveries.push(...request.deliveries(acknowledged))
        }
        await transaction.sendOffsets({
          consumerGroupId: progress.groupId,
          topics: [
            {
              topic: progress.topic,
              partitions: [
                { partition: progress.partition, offset: progress.offset, metadata: progress.metadata },
              ],
            },
          ] as never,
        })
        await transaction.commit()
        return deliveries
      } catch (cause) {
        if (transaction?.isActive()) await transaction.abort().catch(() => {})
        throw classifyKafkaError(cause, `publishing in transaction ${transactionalId}`)
      }
    },
    close: () => producer.disconnect().catch(() => {}),
  }
}

/**
 * Reads every record of a topic present when called (up to the high watermarks), with a
 * throwaway consumer group. Used by the demo, the test helpers and `postbox` tooling.
 */
async function readTopicWith(kafka: Kafka, topic: string, options: ReadOptions): Promise<ReadRecord[]> {
  const admin = kafka.admin()
  await admin.connect()
  const watermarks = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect())
  const remaining = new Map(
    watermarks
      .filter((w) => BigInt(w.high) > BigInt(w.low))
      .map((w) => [w.partition, BigInt(w.high)] as const),
  )
  if (remaining.size === 0) return []

  const consumer = kafka.consumer({
    groupId: `postbox-reader-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
    readUncommitted: options.isolation === 'read_uncommitted',
  })
  const records: ReadRecord[] = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`reading ${topic} timed out with ${records.length} records read`)),
        options.timeoutMs ?? 30_000,
      )
      const reached = (partition: number, lastOffset: string) => {
        const high = remaining.get(partition)
        if (high !== undefined && BigInt(lastOffset) + 1n >= high) remaining.delete(partition)
        if (remaining.size === 0) {
          clearTimeout(timer)
          resolve()
        }
      }
      // Transaction markers take offsets but are never handed to eachMessage; the batch event
      // reports them, so a partition ending in a commit marker still counts as read.
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) =>
        reached(payload.partition, payload.lastOffset),
      )
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            if (!remaining.has(partition)) return
            const headers: Record<string, string> = {}
            for (const [name, value] of Object.entries(message.headers ?? {})) {
              if (value !== undefined) headers[name] = Array.isArray(value) ? String(value[0]) : String(value)
            }
            records.push({
              topic,
              partition,
              offset: message.offset,
              key: message.key,
              value: message.value,
              headers,
              timestamp: message.timestamp,
            })
            reached(partition, message.offset)
          },
        })
        .catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  return records.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)))
}

/** kafkajs's ssl and sasl options from our resolved settings. */
function securityOptions(security: KafkaSecurity): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const { tls, sasl } = security
  return {
    ...(tls === null
      ? {}
      : {
          ssl: {
            ...(tls.ca === undefined ? {} : { ca: [...tls.ca] }),
            ...(tls.cert === undefined ? {} : { cert: tls.cert }),
            ...(tls.key === undefined ? {} : { key: tls.key }),
            ...(tls.passphrase === undefined ? {} : { passphrase: tls.passphrase }),
            rejectUnauthorized: tls.rejectUnauthorized,
          },
        }),
    ...(sasl === null
      ? {}
      : sasl.mechanism === 'oauthbearer'
        ? {
            sasl: {
              mechanism: 'oauthbearer',
              oauthBearerProvider: async () => ({ value: await sasl.tokenProvider() }),
            },
          }
        : { sasl: { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password } as never }),
  }
}

/** One kafkajs client per process part; its logs go through our logger. */
export function kafkaClient(
  brokers: readonly string[],
  clientId: string,
  logger: Logger,
  security: KafkaSecurity = NO_KAFKA_SECURITY,
): KafkaClient {
  const kafka = new Kafka({
    clientId,
    brokers: [...brokers],
    ...securityOptions(security),
    connectionTimeout: 3000,
    requestTimeout: 10000,
    // The relay has its own retrier with backoff; kafkajs retries only briefly inside one call.
    retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, level, log }: LogEntry) => {
        // The relay logs each failed step once with its retry plan; kafkajs detail is for debugging.
        const { message, stack: _stack, ...extra } = log
        logger.debug({ kafka: namespace, kafkaLevel: level, ...extra }, `kafka: ${message}`)
      },
  })

  const withAdmin = async <T>(doing: string, work: (admin: ReturnType<Kafka['admin']>) => Promise<T>) => {
    const admin = kafka.admin()
    try {
      await admin.connect()
      return await work(admin)
    } catch (cause) {
      throw (
        kafkaSecurityFailure(cause) ??
        new UnavailableError('kafka', `${doing} failed (${kafkaFailureName(cause)})`, { cause })
      )
    } finally {
      await admin.disconnect().catch(() => {})
    }
  }

  return {
    producer: () => idempotentProducer(kafka),
    shardProducer: (transactionalId) => transactionalProducer(kafka, transactionalId),

    ensureTopics: (specs: readonly TopicSpec[]) =>
      withAdmin('creating topics', async (admin) => {
        const existing = new Set(await admin.listTopics())
        const missing = specs.filter((s) => !existing.has(s.topic))
        if (missing.length > 0) {
          await admin.createTopics({
            waitForLeaders: true,
            topics: missing.map((s) => ({
              topic: s.topic,
              numPartitions: s.partitions,
              replicationFactor: -1,
              configEntries: [{ name: 'cleanup.policy', value: s.cleanupPolicy }],
            })),
          })
        }
        return missing.map((s) => s.topic)
      }),

    committedProgress: (groupId, topic) =>
      withAdmin('reading shard progress', async (admin) => {
        const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] })
        const tokens = new Map<number, string>()
        for (const p of offsets?.partitions ?? []) {
          if (p.metadata) tokens.set(p.partition, p.metadata)
        }
        return tokens
      }),

    readTopic: (topic, options = {}) => readTopicWith(kafka, topic, options),
  }
}
