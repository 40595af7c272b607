import type { AnyEventDefinition } from '../catalog/define-event.js'
import { keyOf, mapToExternal, storedKey, toStoredSnapshot } from '../catalog/map-event.js'
import type { BackfillSource } from '../catalog/types.js'
import { backfillQueries } from '../db/backfill-queries.js'
import { openSession } from '../db/session.js'
import { createOutbox } from '../enqueue.js'
import { ConfigError, describeError, PostboxError } from '../errors.js'
import { type BatchLoopOptions, runBatches } from './batches.js'

/** Source rows locked and enqueued per transaction unless told otherwise. */
export const BACKFILL_BATCH_SIZE = 500

/** Which rows of an event's backfill source table to publish. */
export interface BackfillSelection {
  databaseUrl: string
  /** The event to publish; its defineEvent() names the source with `backfill: { table, keyColumn }`. */
  event: AnyEventDefinition
  /** Trusted SQL condition on the source table (runs with the caller's database role). */
  where?: string
  /** Start after this key value (resume an interrupted backfill). */
  after?: unknown
}

export interface BackfillOptions extends BackfillSelection, Partial<BatchLoopOptions> {
  /** Postgres schema of the outbox tables (default "postbox"). */
  schema?: string
  /** Hears each committed batch: its row count and the key to resume after. */
  onBatch?(batch: { rows: number; lastKey: string }): void
}

export interface BackfillResult {
  enqueued: number
  batches: number
  /** True when the signal stopped it; resume with `after: lastKey`. */
  stopped: boolean
  /** The last key enqueued (undefined when none was). */
  lastKey: string | undefined
}

/** A source row as it would be published, or why it cannot be. */
export type BackfillSampleRow = { sourceKey: string } & ({ key: string; value: unknown } | { error: string })

/** A backfill stopped by an error: the batch that failed rolled back, those before it are queued. */
export class BackfillStoppedError extends PostboxError {
  constructor(
    readonly eventType: string,
    readonly enqueued: number,
    /** The key to resume after (undefined: from the start). */
    readonly resumeAfter: string | undefined,
    /** The source row that cannot be mapped, when one was found. */
    readonly failedKey: string | undefined,
    cause: unknown,
  ) {
    super(
      'POSTBOX_BACKFILL_STOPPED',
      `backfill of ${eventType} stopped after ${enqueued} row(s)` +
        (failedKey === undefined ? '' : ` at key ${failedKey}`) +
        (resumeAfter === undefined ? '' : `; resume after key ${resumeAfter}`),
      { cause, retriable: cause instanceof PostboxError && cause.retriable },
    )
  }
}

/** A key column value as an operator would type it back (--after). */
export function keyText(value: unknown): string {
  return value instanceof Date ? value.toISOString() : String(value)
}

/** The event's backfill source table, or a ConfigError saying how to declare one. */
export function backfillSourceOf(event: AnyEventDefinition): BackfillSource {
  if (event.backfill === undefined) {
    throw new ConfigError(
      `event ${event.type} has no backfill source: add backfill: { table, keyColumn } to its defineEvent()`,
    )
  }
  return event.backfill
}

function tryMap(
  event: AnyEventDefinition,
  row: unknown,
): { key: string; value: unknown } | { error: string } {
  try {
    const snapshot = toStoredSnapshot(event, row)
    return { key: storedKey(keyOf(event, snapshot)), value: mapToExternal(event, snapshot) }
  } catch (error) {
    return { error: describeError(error) }
  }
}

/**
 * How many source rows match and the first `sample` of them as they would be published. Runs in
 * a READ ONLY transaction: whatever the condition says, it changes nothing.
 */
export async function previewBackfill(
  selection: BackfillSelection,
  sample: number,
): Promise<{ matched: number; sample: BackfillSampleRow[] }> {
  const source = backfillSourceOf(selection.event)
  const q = backfillQueries(source, selection.where)
  const session = await openSession(selection.databaseUrl, 'postbox backfill')
  try {
    return await session.transaction(async () => {
      await q.readOnly(session)
      const matched = await q.countSourceRows(session, selection.after)
      const rows = sample > 0 ? await q.sampleSourceRows(session, selection.after, sample) : []
      return {
        matched,
        sample: rows.map((row) => ({
          sourceKey: keyText(row[source.keyColumn]),
          ...tryMap(selection.event, row),
        })),
      }
    })
  } finally {
    await session.close()
  }
}

/**
 * Publishes the current state of existing rows: reads the event's source table in key order, a
 * batch at a time, each batch one short transaction that locks its rows FOR SHARE and enqueues
 * them through the event's mapping. Race-safe with writers that change a row and enqueue its event
 * in one transaction.
 */
export async function backfill(options: BackfillOptions): Promise<BackfillResult> {
  const { event } = options
  const source = backfillSourceOf(event)
  const q = backfillQueries(source, options.where)
  const outbox = createOutbox({ events: [event], schema: options.schema })
  const batchSize = options.batchSize ?? BACKFILL_BATCH_SIZE
  const session = await openSession(options.databaseUrl, 'postbox backfill')
  let after: unknown = options.after
  let enqueued = 0
  try {
    const result = await runBatches(
      { batchSize, rowsPerSecond: options.rowsPerSecond, signal: options.signal },
      async (limit) => {
        const rows = await session.transaction(async (client) => {
          const batch = await q.lockNextSourceBatch(session, after, limit)
          if (!batch.advances) {
            throw new ConfigError(
              `the page key ${source.keyColumn} did not advance past ${keyText(after)}: the condition ` +
                'lets earlier rows in (an unbalanced parenthesis or a top-level OR?); nothing of this batch was queued',
            )
          }
          if (batch.rows.length > 0) await outbox.enqueueMany(client, event, batch.rows)
          return batch.rows
        })
        if (rows.length === 0) return { rows: 0, done: true }
        const last = rows[rows.length - 1]?.[source.keyColumn]
        if (last === null || last === undefined) {
          throw new ConfigError(
            `${source.schema ?? 'public'}.${source.table}.${source.keyColumn} is null in a row: backfill pages by a unique, not-null column; set backfill.keyColumn to one`,
          )
        }
        after = last
        enqueued += rows.length
        options.onBatch?.({ rows: rows.length, lastKey: keyText(last) })
        return { rows: rows.length, done: false }
      },
    )
    return {
      enqueued: result.rows,
      batches: result.batches,
      stopped: result.stopped,
      lastKey: after === undefined ? undefined : keyText(after),
    }
  } catch (error) {
    // Name the row that stopped it: the failed batch rolled back.
    const next = await q.sampleSourceRows(session, after, batchSize).catch(() => [])
    const culprit = next.find((row) => 'error' in tryMap(event, row))
    throw new BackfillStoppedError(
      event.type,
      enqueued,
      after === undefined ? undefined : keyText(after),
      culprit === undefined ? undefined : keyText(culprit[source.keyColumn]),
      error,
    )
  } finally {
    await session.close()
  }
}
