// Config file for `postbox relay --config examples/orders/postbox.config.ts`.
// Connection settings come from DATABASE_URL, KAFKA_BROKERS and SCHEMA_REGISTRY_URL.
import type { PostboxSettings } from '../../src/relay-api.js'
import { OrderChanged } from './events.js'

const settings: PostboxSettings = {
  events: [OrderChanged],
  relay: { batchSize: 500, pollIntervalMs: 1000 },
}
export default settings
