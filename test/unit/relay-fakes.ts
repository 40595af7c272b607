// In-memory fakes of the relay's own ports (RelayDatabase, RelayQueries, KafkaConnection,
// SchemaIdResolver, Logger) for the unit tier: no Postgres, Kafka or registry.

import { tagTypes } from '../../src/catalog/stored-json.js'
import type { Lease } from '../../src/db/lease-queries.js'
import type { ClaimedRow } from '../../src/db/outbox-queries.js'
import { FencedError, UnavailableError, UnpublishableError } from '../../src/errors.js'
import type {
  Delivery,
  EventProducer,
  KafkaConnection,
  OutgoingMessage,
  ProgressMark,
  ShardProducer,
  TopicSpec,
} from '../../src/kafka/ports.js'
import type { Logger } from '../../src/observe/logger.js'
import type { Listener, RelayDatabase, RelayQueries, SchemaIdResolver } from '../../src/relay/ports.js'

export interface StoredRow extends ClaimedRow {
  status: 'pending' | 'sent' | 'parked'
  last_error: string | null
}

let nextId = 1

/**
 * A pending outbox row as enqueue() would have stored it, as the claim returns it: `payload` is
 * the snapshot (stored as its JSON text, Dates and bigints tagged; none for a tombstone).
 */
export function storedRow(
  fields: Omit<Partial<ClaimedRow>, 'payload'> &
    Pick<ClaimedRow, 'event_type' | 'topic' | 'key'> & { payload?: unknown },
): StoredRow {
  const id = String(nextId++)
  const { payload, ...rest } = fields
  return {
    id,
    event_id: `00000000-0000-4000-8000-${id.padStart(12, '0')}`,
    headers: {},
    created_at: new Date(0),
    shard: 0,
    attempts: 0,
    status: 'pending',
    last_error: null,
    ...rest,
    payload: payload === undefined || payload === null ? null : JSON.stringify(payload, tagTypes),
  }
}

/** The shard_lease and relay tables, in memory; `now` drives lease expiry. */
export class LeaseTable {
  readonly shards = new Map<number, { owner: string | null; epoch: bigint; expiresAt: number }>()
  readonly relays = new Map<string, number>()

  constructor(
    shardCount: number,
    public now: () => number = () => Date.now(),
  ) {
    for (let s = 0; s < shardCount; s++) this.shards.set(s, { owner: null, epoch: 0n, expiresAt: 0 })
  }

  holds(relayId: string, lease: Lease): boolean {
    const row = this.shards.get(lease.shard)
    return row?.owner === relayId && String(row.epoch) === lease.epoch && row.expiresAt > this.now()
  }

  queries(): RelayQueries['leases'] {
    return {
      heartbeatRelay: async (_db, relayId) => {
        this.relays.set(relayId, this.now())
      },
      liveRelayCount: async (_db, ttlMs) =>
        [...this.relays.values()].filter((t) => t > this.now() - ttlMs).length,
      removeRelay: async (_db, relayId) => {
        this.relays.delete(relayId)
      },
      pruneDeadRelays: async (_db, olderThanMs) => {
        for (const [id, t] of this.relays) if (t < this.now() - olderThanMs) this.relays.delete(id)
      },
      shardCount: async () => this.shards.size,
      acquireShards: async (_db, relayId, ttlMs, limit) => {
        const taken: Lease[] = []
        for (const [shard, row] of this.shards) {
          if (taken.length >= limit) break
          if (row.owner !== null && row.expiresAt >= this.now()) continue
          row.owner = relayId
          row.epoch += 1n
          row.expiresAt = this.now() + ttlMs
          taken.push({ shard, epoch: String(row.epoch) })
        }
        return taken
      },
      renewLeases: async (_db, relayId, leases, ttlMs) => {
        const renewed = new Set<number>()
        for (const lease of leases) {
          const row = this.shards.get(lease.shard)
          if (row?.owner === relayId && String(row.epoch) === lease.epoch) {
            row.expiresAt = this.now() + ttlMs
            renewed.add(lease.shard)
          }
        }
        return renewed
      },
      releaseLeases: async (_db, relayId, shards) => {
        for (const shard of shards) {
          const row = this.shards.get(shard)
          if (row?.owner === relayId) Object.assign(row, { owner: null, expiresAt: 0 })
        }
      },
    }
  }
}

/** The outbox, lease and in-flight tables in memory, behind the relay's named queries. */
export class MemoryStore {
  readonly rows: StoredRow[] = []
  readonly inflight = new Map<string, { shard: number; ids: string[] }>()
  readonly leaseTable: LeaseTable
  /** Ids whose park fails (as a park of a row with an oversized key did). */
  readonly parkFailures = new Set<string>()
  /** How many coming markSent calls fail as if the database went away (after Kafka acknowledged). */
  markFailures = 0

  constructor(shardCount = 1) {
    this.leaseTable = new LeaseTable(shardCount)
  }

  add(...rows: StoredRow[]): void {
    this.rows.push(...rows)
  }

  statusOf(row: StoredRow): string {
    return this.rows.find((r) => r.id === row.id)?.status ?? 'missing'
  }

  queries(): RelayQueries {
    return {
      outbox: {
        claimPendingBatch: async (_db, shards, limit) =>
          this.rows
            .filter(
              (r) =>
                r.status === 'pending' &&
                shards.includes(r.shard) &&
                !this.rows.some(
                  (p) =>
                    p.status === 'parked' &&
                    p.topic === r.topic &&
                    p.key === r.key &&
                    Number(p.id) < Number(r.id),
                ),
            )
            .slice(0, limit)
            .map(({ status: _s, last_error: _e, ...claimed }) => claimed),
        markSent: async (_db, ids, leases, relayId) => {
          if (this.markFailures > 0) {
            this.markFailures--
            throw new UnavailableError('postgres', 'Connection terminated unexpectedly')
          }
          const held = new Set(leases.filter((l) => this.leaseTable.holds(relayId, l)).map((l) => l.shard))
          const marked: string[] = []
          for (const row of this.rows) {
            if (ids.includes(row.id) && row.status === 'pending' && held.has(row.shard)) {
              row.status = 'sent'
              marked.push(row.id)
            }
          }
          return marked
        },
        parkRow: async (_db, id, error, leases, relayId) => {
          if (this.parkFailures.has(id))
            throw new Error('index row size 6432 exceeds btree version 4 maximum 2704')
          const held = new Set(leases.filter((l) => this.leaseTable.holds(relayId, l)).map((l) => l.shard))
          const row = this.rows.find((r) => r.id === id && r.status === 'pending' && held.has(r.shard))
          if (row === undefined) return false
          Object.assign(row, { status: 'parked', last_error: error })
          return true
        },
        unsettledRows: async () => ({ rows: 0, oldestSeconds: null, holderPid: null }),
        checkMarkTables: async () => {},
      },
      leases: this.leaseTable.queries(),
      progress: {
        recordInflight: async (_db, token, shard, ids) => {
          this.inflight.set(token, { shard, ids: [...ids] })
        },
        inflightIds: async (_db, shard, token) => {
          if (this.inflight.get(token)?.shard !== shard) return []
          return [...this.inflight]
            .filter(([recorded, batch]) => batch.shard === shard && recorded <= token)
            .flatMap(([, batch]) => batch.ids)
        },
        forgetInflight: async (_db, token) => {
          this.inflight.delete(token)
        },
        clearInflight: async (_db, shards) => {
          for (const [token, batch] of this.inflight)
            if (shards.includes(batch.shard)) this.inflight.delete(token)
        },
      },
      eventTypes: { upsertEventTypes: async () => {} },
      oldestOpenTransaction: async () => null,
      clusterIdentity: async () => ({ systemIdentifier: '7000000000000000001', database: 'db' }),
    }
  }
}

/** A database port whose SQL is never run directly: every query goes through MemoryStore. */
export class FakeDatabase implements RelayDatabase {
  closed = false
  private readonly listeners = new Set<() => void>()

  async query<Row>(): Promise<Row[]> {
    throw new Error('the relay ran SQL outside its named queries')
  }

  async listen(_channel: string, onNotify: () => void): Promise<Listener> {
    this.listeners.add(onNotify)
    return { close: async () => void this.listeners.delete(onNotify) }
  }

  notify(): void {
    for (const listener of this.listeners) listener()
  }

  async close(): Promise<void> {
    this.closed = true
  }
}

/**
 * A Kafka cluster in memory. `published` holds what consumers (read_committed) see, in order.
 * `refuse` names messages Kafka refuses for good; `outage` makes every call fail until cleared.
 */
export class FakeKafka implements KafkaConnection {
  readonly published: OutgoingMessage[] = []
  readonly committed = new Map<number, string>()
  readonly topics: TopicSpec[] = []
  /** Messages per produce request, in order. */
  readonly sends: number[] = []
  /** Produce requests per committed-or-attempted exactly-once transaction, in order. */
  readonly transactions: number[] = []
  /** Every publish attempt, failed or not. */
  attempts = 0
  refuse: (message: OutgoingMessage) => boolean = () => false
  outage: Error | null = null
  /** The next transaction commits, then its producer reports a failure (the outcome looks unknown). */
  failAfterNextCommit = false
  private readonly epochs = new Map<string, number>()

  private check(messages: readonly OutgoingMessage[]): void {
    this.attempts++
    if (this.outage !== null) throw this.outage
    if (messages.some(this.refuse))
      throw new UnpublishableError('Kafka refused the record (MESSAGE_TOO_LARGE)')
  }

  /** Appends to `published`; every topic has one partition, and offsets count its records. */
  private append(messages: readonly OutgoingMessage[]): Delivery[] {
    return messages.map((m) => {
      const offset = this.published.filter((p) => p.topic === m.topic).length
      this.published.push(m)
      return { partition: 0, offset: String(offset) }
    })
  }

  producer(): EventProducer {
    return {
      connect: async () => {
        if (this.outage !== null) throw this.outage
      },
      send: async (messages) => {
        this.check(messages)
        this.sends.push(messages.length)
        return this.append(messages)
      },
      close: async () => {},
    }
  }

  async shardProducer(transactionalId: string): Promise<ShardProducer> {
    if (this.outage !== null) throw this.outage
    const epoch = (this.epochs.get(transactionalId) ?? 0) + 1
    this.epochs.set(transactionalId, epoch)
    return {
      publishAtomically: async (
        requests: readonly (readonly OutgoingMessage[])[],
        progress: ProgressMark,
      ) => {
        if (this.epochs.get(transactionalId) !== epoch) throw new FencedError(`${transactionalId} was fenced`)
        for (const request of requests) {
          this.check(request)
          this.sends.push(request.length)
        }
        this.transactions.push(requests.length)
        const deliveries = this.append(requests.flat())
        this.committed.set(progress.partition, progress.metadata)
        if (this.failAfterNextCommit) {
          this.failAfterNextCommit = false
          throw new UnavailableError('kafka', 'the commit request timed out')
        }
        return deliveries
      },
      close: async () => {},
    }
  }

  /** Starts a newer producer with this id elsewhere, fencing ours. */
  fence(transactionalId: string): void {
    this.epochs.set(transactionalId, (this.epochs.get(transactionalId) ?? 0) + 1)
  }

  async ensureTopics(specs: readonly TopicSpec[]): Promise<string[]> {
    if (this.outage !== null) throw this.outage
    this.topics.push(...specs)
    return specs.map((s) => s.topic)
  }

  async committedProgress(): Promise<Map<number, string>> {
    if (this.outage !== null) throw this.outage
    return new Map(this.committed)
  }
}

export const fakeRegistry: SchemaIdResolver = {
  resolveSchemaId: async (subject) => (subject.endsWith('-key') ? 2 : 1),
}

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error'
  message: string
  fields: object
}

/** A logger that keeps what was logged (info and above) for assertions. */
export function recordingLogger(lines: LogLine[] = []): Logger & { lines: LogLine[] } {
  const at =
    (level: LogLine['level']) =>
    (fields: object, message: string): void => {
      if (level !== 'debug') lines.push({ level, message, fields })
    }
  const logger = {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  }
  return logger
}
