import type { SqlExecutor } from '../db/executor.js'
import type { Lease, LeaseQueries } from '../db/lease-queries.js'
import type { Logger } from '../observe/logger.js'

interface HeldLease extends Lease {
  /** Local monotonic time (ms) at which the last successful renewal was sent. */
  renewedAt: number
}

/**
 * The shards this relay owns. Relays heartbeat a row each, split the shards evenly among the
 * live ones, and take a shard only when free or expired (bumping its fencing epoch).
 */
export class ShardLeases {
  private readonly held = new Map<number, HeldLease>()
  private lastBeat = Number.NEGATIVE_INFINITY
  private shardCount = 0

  constructor(
    private readonly db: SqlExecutor,
    private readonly queries: LeaseQueries,
    private readonly relayId: string,
    private readonly ttlMs: number,
    private readonly heartbeatMs: number,
    private readonly logger: Logger,
    private readonly identity: { host: string; pid: number },
  ) {}

  get shards(): number[] {
    return [...this.held.keys()].sort((a, b) => a - b)
  }

  get leases(): Lease[] {
    return [...this.held.values()].map(({ shard, epoch }) => ({ shard, epoch }))
  }

  /**
   * True while every held lease is certainly still ours: renewed less than a TTL ago, minus
   * a margin for the produce call that follows. Checked right before publishing.
   */
  safeToPublish(now = performance.now()): boolean {
    const margin = Math.min(this.ttlMs / 2, 3000)
    for (const lease of this.held.values()) {
      if (now - lease.renewedAt > this.ttlMs - margin) return false
    }
    return true
  }

  /** The fixed number of shards (rows of shard_lease). */
  async shardTotal(): Promise<number> {
    if (this.shardCount === 0) this.shardCount = await this.queries.shardCount(this.db)
    return this.shardCount
  }

  /** Heartbeat, renew, and rebalance when due (or when forced). */
  async maintain(force = false): Promise<void> {
    const started = performance.now()
    if (!force && started - this.lastBeat < this.heartbeatMs) return
    await this.shardTotal()
    await this.queries.heartbeatRelay(this.db, this.relayId, this.identity.host, this.identity.pid)
    await this.queries.pruneDeadRelays(this.db, this.ttlMs * 6)

    if (this.held.size > 0) {
      const renewed = await this.queries.renewLeases(this.db, this.relayId, this.leases, this.ttlMs)
      for (const [shard, lease] of this.held) {
        if (renewed.has(shard)) lease.renewedAt = started
        else this.drop([shard], 'lease taken over')
      }
    }

    const live = Math.max(1, await this.queries.liveRelayCount(this.db, this.ttlMs))
    const target = Math.ceil(this.shardCount / live)
    if (this.held.size > target) {
      const extra = this.shards.slice(target)
      await this.queries.releaseLeases(this.db, this.relayId, extra)
      this.drop(extra, `rebalancing to ${target} shards for ${live} relays`)
    } else if (this.held.size < target) {
      const taken = await this.queries.acquireShards(
        this.db,
        this.relayId,
        this.ttlMs,
        target - this.held.size,
      )
      for (const lease of taken) this.held.set(lease.shard, { ...lease, renewedAt: started })
      if (taken.length > 0) {
        this.logger.info({ shards: taken.map((l) => l.shard), held: this.shards }, 'acquired shard leases')
      }
    }
    this.lastBeat = started
  }

  /** Forget shards whose lease moved on (found while marking, or at renewal). */
  drop(shards: readonly number[], reason: string): void {
    const dropped = shards.filter((s) => this.held.delete(s))
    if (dropped.length > 0) this.logger.warn({ shards: dropped, reason }, 'released shard leases')
  }

  async releaseAll(): Promise<void> {
    const shards = this.shards
    this.held.clear()
    if (shards.length > 0) await this.queries.releaseLeases(this.db, this.relayId, shards)
    await this.queries.removeRelay(this.db, this.relayId)
  }
}
