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

    async inflightIds(db: SqlExecutor, shard: number, token: string): Promise<string[]> {
      const [row] = await db.query<{ ids: string[] }>(
        `select ids::text[] as ids from ${s}.inflight_batch where shard = $1 and token = $2::uuid`,
        [shard, token],
      )
      return row?.ids ?? []
    },

    async clearInflight(db: SqlExecutor, shards: readonly number[]) {
      await db.query(`delete from ${s}.inflight_batch where shard = any($1::smallint[])`, [shards])
    },
  }
}

export type ProgressQueries = ReturnType<typeof progressQueries>
