/**
 * CRC-32C (Castagnoli; reflected polynomial 0x82F63B78), the checksum of a Kafka record batch.
 * Slicing-by-8: eight table lookups per eight bytes instead of one dependent lookup per byte.
 * Table k holds, for each byte n, the CRC of n followed by k zero bytes.
 */
const POLYNOMIAL = 0x82f63b78

function buildTables(): Int32Array {
  // Eight tables of 256 entries, one after the other: table k starts at k * 256.
  const tables = new Int32Array(8 * 256)
  for (let n = 0; n < 256; n++) {
    let crc = n
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ POLYNOMIAL : crc >>> 1
    tables[n] = crc
  }
  for (let n = 0; n < 256; n++) {
    let crc = tables[n] ?? 0
    for (let k = 1; k < 8; k++) {
      crc = (tables[crc & 0xff] ?? 0) ^ (crc >>> 8)
      tables[k * 256 + n] = crc
    }
  }
  return tables
}

const T = buildTables()

/** The CRC-32C of `bytes`, unsigned. */
export function crc32c(bytes: Uint8Array): number {
  let crc = -1
  let i = 0
  const whole = bytes.length & ~7
  for (; i < whole; i += 8) {
    // The first four bytes meet the CRC so far; the last four are looked up as they are.
    const low =
      crc ^
      ((bytes[i] ?? 0) |
        ((bytes[i + 1] ?? 0) << 8) |
        ((bytes[i + 2] ?? 0) << 16) |
        ((bytes[i + 3] ?? 0) << 24))
    crc =
      (T[7 * 256 + (low & 0xff)] ?? 0) ^
      (T[6 * 256 + ((low >>> 8) & 0xff)] ?? 0) ^
      (T[5 * 256 + ((low >>> 16) & 0xff)] ?? 0) ^
      (T[4 * 256 + (low >>> 24)] ?? 0) ^
      (T[3 * 256 + (bytes[i + 4] ?? 0)] ?? 0) ^
      (T[2 * 256 + (bytes[i + 5] ?? 0)] ?? 0) ^
      (T[256 + (bytes[i + 6] ?? 0)] ?? 0) ^
      (T[bytes[i + 7] ?? 0] ?? 0)
  }
  for (; i < bytes.length; i++) crc = (T[(crc ^ (bytes[i] ?? 0)) & 0xff] ?? 0) ^ (crc >>> 8)
  return (crc ^ -1) >>> 0
}
