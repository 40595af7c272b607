import type { CleanupPolicy } from '../catalog/types.js'
import { UnavailableError } from '../errors.js'
import type { KafkaClient as Kafka } from './client.js'

export interface TopicSpec {
  topic: string
  cleanupPolicy: CleanupPolicy
  partitions: number
}

/** Creates the topics that do not exist yet; existing topics are left exactly as they are. */
export async function ensureTopics(kafka: Kafka, specs: readonly TopicSpec[]): Promise<string[]> {
  const admin = kafka.admin()
  try {
    await admin.connect()
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
  } catch (cause) {
    throw new UnavailableError('kafka', `cannot create topics: ${String(cause)}`, { cause })
  } finally {
    await admin.disconnect().catch(() => {})
  }
}
