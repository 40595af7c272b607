import type { SqlExecutor } from './executor.js'
import { quoteIdentifier } from './identifier.js'

/** Batches whose Kafka transaction may have committed before their rows were marked sent. */
export function progressQueries(schemaName: string) {
  const s = quoteIdentifier(schemaName)
  return {
    async recordInflight(
      db: SqlExecutor,
      token: string,
      shard: number,
      ids: readonly string[],
      relayId: string,
    ) {
      await db.query(
        `insert into ${s}.inflight_batch (token, shard, ids, relay) values ($1, $2, $3::bigint[], $4)`,
        [token, shard, ids, relayId],
      )
    },

    /**
     * The ids of the batch committed with `token` and of every batch of the shard recorded before it
     * (tokens are ordered: see progressToken), or none when `token` is not recorded. A shard's
     * records since its last takeover come from one owner, which sends its transactions one after
     * the other and forgets a record whose transaction Kafka refused before it sends another: so a
     * record older than the committed one was committed too (the parts of a batch whose refused
     * row was isolated, each its own transaction).
     */
    async inflightIds(db: SqlExecutor, shard: number, token: string): Promise<string[]> {
      const [row] = await db.query<{ ids: string[] }>(
        `select coalesce(array_agg(i.id order by i.id), '{}')::text[] as ids
         from ${s}.inflight_batch b cross join lateral unnest(b.ids) as i(id)
         where b.shard = $1 and b.token <= $2::uuid
           and exists (select 1 from ${s}.inflight_batch c where c.shard = $1 and c.token = $2::uuid)`,
        [shard, token],
      )
      return row?.ids ?? []
    },

    /** Forgets the record of a transaction Kafka refused (it was aborted: none of its rows were published). */
    async forgetInflight(db: SqlExecutor, token: string) {
      await db.query(`delete from ${s}.inflight_batch where token = $1::uuid`, [token])
    },

    async clearInflight(db: SqlExecutor, shards: readonly number[]) {
      await db.query(`delete from ${s}.inflight_batch where shard = any($1::smallint[])`, [shards])
    },
  }
}

export type ProgressQueries = ReturnType<typeof progressQueries>
