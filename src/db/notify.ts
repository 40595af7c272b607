/**
 * NOTIFY/LISTEN between writers and relays. A notification is only a hint that rows were
 * written: relays poll anyway, so a lost or folded notification delays nothing for long.
 */

/** The channel of a schema's outbox. */
export function notifyChannel(schema: string): string {
  return `postbox_${schema}`
}

/** The call that notifies the channel given by parameter `channel` (e.g. `$1`), with an empty payload. */
export function notifyCall(channel: string): string {
  return `pg_notify(${channel}, '')`
}

/** A select of that call. */
export function notifySelect(channel: string): string {
  return `select ${notifyCall(channel)}`
}

/** LISTEN takes no parameters; the channel is derived from a validated schema name, quotes removed besides. */
export function listenSql(channel: string): string {
  return `listen "${channel.replace(/"/g, '')}"`
}
