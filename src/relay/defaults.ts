import type { ResolvedConfig } from '../config.js'
import { listen, openDatabase } from '../db/pool.js'
import { kafkaClient } from '../kafka/client.js'
import type { KafkaConnection } from '../kafka/ports.js'
import type { Logger } from '../observe/logger.js'
import { createRegistryClient } from '../schema/registry.js'
import type { RelayDatabase, SchemaIdResolver } from './ports.js'

/** The parts a Relay builds from its config when it is not given them. */

export function databaseFromConfig(config: ResolvedConfig): RelayDatabase {
  const pool = openDatabase(config.databaseUrl, `postbox-relay ${config.relay.id}`, 4, {
    indexPlansOnly: true,
    prepare: true,
  })
  return {
    query: (text, values, options) => pool.query(text, values, options),
    listen: (channel, onNotify, onError) => listen(config.databaseUrl, channel, onNotify, onError),
    close: () => pool.close(),
  }
}

export function kafkaFromConfig(config: ResolvedConfig, logger: Logger): KafkaConnection {
  return kafkaClient(config.kafka.brokers, config.kafka.clientId, logger, config.kafka.security)
}

export function registryFromConfig(config: ResolvedConfig): SchemaIdResolver {
  return createRegistryClient(config.registry)
}
