/** Defaults the write path and the relay share, written once (this module loads nothing). */
export const DEFAULT_SCHEMA = 'postbox'

/** Largest encoded message value: under Kafka's 1 MiB default `max.message.bytes`. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_000_000
