// The one place the benchmark imports Postbox from. The public surface for the write path and the
// relay; the Kafka client is the relay's own, so the raw-producer row uses exactly the client and
// producer settings the relay publishes with.

export type { Outbox } from '../src/index.js'
export { createOutbox, defineEvent } from '../src/index.js'
export { kafkaClient } from '../src/kafka/client.js'
export { kafkajsTuning } from '../src/kafka/kafkajs-tuning.js'
export type { OutgoingMessage } from '../src/kafka/ports.js'
export { silentLogger } from '../src/observe/logger.js'
export type { BatchReport, ResolvedConfig } from '../src/relay-api.js'
export { migrate, Relay, resolveConfig } from '../src/relay-api.js'
