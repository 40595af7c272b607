// Config file for the relay CLI child of the 1,000,000-row drain; the benchmark passes the topic,
// batch size and delivery mode in BENCH_* variables.
import { orderEvent } from './events.js'

const batchSize = Number(process.env.BENCH_BATCH_SIZE)

export default {
  events: [orderEvent(process.env.BENCH_TOPIC ?? 'bench')],
  relay: {
    httpPort: 0,
    ...(batchSize > 0 ? { batchSize } : {}),
  },
}
