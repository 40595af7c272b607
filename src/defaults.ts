/** Defaults the write path and the relay share, written once (this module loads nothing). */
export const DEFAULT_SCHEMA = 'postbox'

/**
 * Default largest Kafka record (encoded value, key and the event's headers): under Kafka's 1 MiB
 * default `max.message.bytes`. enqueue and the relay share it.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_000_000
