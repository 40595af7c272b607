/**
 * Kafka's default partitioner hash: murmur2 of the key bytes as the Java client computes it
 * (org.apache.kafka.common.utils.Utils.murmur2, seed 0x9747b28c), so a key lands on the partition
 * every Kafka client picks. kafkajs computes the same value through 64-bit Long objects, several
 * per key byte group; this is the 32-bit arithmetic directly.
 */
export function murmur2(data: Buffer): number {
  const m = 0x5bd1e995
  const length = data.length
  let h = 0x9747b28c ^ length
  const whole = length & ~3
  for (let i = 0; i < whole; i += 4) {
    let k = data.readInt32LE(i)
    k = Math.imul(k, m)
    k ^= k >>> 24
    k = Math.imul(k, m)
    h = Math.imul(h, m) ^ k
  }
  // The last 1-3 bytes, as Java's switch with fall-through takes them.
  const tail = length & 3
  if (tail > 0) {
    if (tail === 3) h ^= (data[whole + 2] ?? 0) << 16
    if (tail >= 2) h ^= (data[whole + 1] ?? 0) << 8
    h ^= data[whole] ?? 0
    h = Math.imul(h, m)
  }
  h ^= h >>> 13
  h = Math.imul(h, m)
  h ^= h >>> 15
  return h | 0
}

/** The partition Kafka's default partitioner picks for a key among `partitions`. */
export function partitionForKey(key: Buffer, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions
}
