// The one place the benchmark imports Postbox from. The relay-side names come from the public
// surface; the producer factory is the relay's own, so the raw-producer row uses exactly the
// client and producer settings the relay publishes with. Point these lines elsewhere when the
// public surface moves.

export type { BatchReport, Outbox, ResolvedConfig } from '../src/index.js'
export { createOutbox, defineEvent, migrate, Relay, resolveConfig } from '../src/index.js'
export { kafkaClient } from '../src/kafka/client.js'
export { createEventProducer, type OutgoingMessage } from '../src/kafka/producer.js'
export { silentLogger } from '../src/observe/logger.js'
