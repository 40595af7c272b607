import assert from 'node:assert/strict'
import { kafkaClient } from '../../src/kafka/client.js'
import { silentLogger } from '../../src/observe/logger.js'
import { queryRows, stack } from './stack.js'

/** The progress token an exactly-once relay of `databaseUrl` last committed for `shard` (default prefix). */
export async function lastCommittedProgressToken(databaseUrl: string, shard: number): Promise<string> {
  const [cluster] = await queryRows<{ id: string; name: string }>(
    databaseUrl,
    'select system_identifier::text as id, current_database() as name from pg_control_system()',
  )
  const prefix = `postbox.${cluster?.id}.${cluster?.name}.postbox`
  const tokens = await kafkaClient(stack.brokers, 'test', silentLogger).committedProgress(
    `${prefix}.progress`,
    `${prefix}.progress`,
  )
  const token = tokens.get(shard)
  assert.ok(token, 'a progress token was committed for the shard')
  return token
}
