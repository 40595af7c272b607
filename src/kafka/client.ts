import { Kafka, type LogEntry, logLevel, type Producer } from 'kafkajs'

/** The kafkajs types the other Kafka modules use; this file is the only one importing kafkajs. */
export type KafkaClient = Kafka
export type KafkaProducer = Producer

import type { Logger } from '../observe/logger.js'

/** One kafkajs client per process part; its logs go through our logger. */
export function kafkaClient(brokers: readonly string[], clientId: string, logger: Logger): Kafka {
  return new Kafka({
    clientId,
    brokers: [...brokers],
    connectionTimeout: 3000,
    requestTimeout: 10000,
    // The relay has its own retrier with backoff; kafkajs retries only briefly inside one call.
    retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, level, log }: LogEntry) => {
        // The relay logs each failed step once with its retry plan; kafkajs detail is for debugging.
        const { message, stack: _stack, ...extra } = log
        logger.debug({ kafka: namespace, kafkaLevel: level, ...extra }, `kafka: ${message}`)
      },
  })
}
