import type { CliIo } from './io.js'

/**
 * The shape version of every `--json` document. It goes up when a field changes meaning or goes
 * away; a new field does not raise it. The shapes are documented in the README ("JSON output").
 */
export const JSON_DOCUMENT_VERSION = 1

/** Prints one `--json` document: a compact JSON object on one line, `version` first. */
export function printJson(io: CliIo, document: Record<string, unknown>): void {
  io.out(JSON.stringify({ version: JSON_DOCUMENT_VERSION, ...document }))
}

/** A timestamp in a document: ISO 8601 in UTC, or null. */
export function isoOrNull(date: Date | null | undefined): string | null {
  return date === null || date === undefined ? null : date.toISOString()
}
