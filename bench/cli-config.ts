// Config file for the relay CLI child of the 1,000,000-row drain; the benchmark passes the topic,
// batch size and what becomes of sent rows in BENCH_* variables.
import { orderEvent } from './events.js'

const batchSize = Number(process.env.BENCH_BATCH_SIZE)
// The benchmark picks the port, so it need not find it in the relay's log.
const httpPort = Number(process.env.BENCH_HTTP_PORT) || 0
const sentRows = process.env.BENCH_SENT_ROWS === 'delete' ? 'delete' : 'keep'

export default {
  events: [orderEvent(process.env.BENCH_TOPIC ?? 'bench')],
  relay: {
    httpPort,
    sentRows,
    ...(batchSize > 0 ? { batchSize } : {}),
  },
}
