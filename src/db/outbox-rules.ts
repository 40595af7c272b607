/**
 * The rules that decide which outbox rows a relay may publish, each written once as a SQL
 * condition on a row. The claim, the `--until-drained` check, `status` and the relay's stall
 * report all build on these, so they cannot disagree.
 *
 * `schema` is a quoted identifier (quoteIdentifier); `row` is a table alias chosen by the query.
 */

/**
 * Settled: below the horizon read just before this statement (src/db/horizon.ts), so no open
 * transaction that can still add outbox rows holds a smaller id or txid. `idBound` and `horizon`
 * are the query's parameters holding Horizon.idBound and Horizon.horizon.
 */
function settled(row: string, idBound: string, horizon: string): string {
  return `${row}.id <= ${idBound}::bigint
    and ${row}.txid < coalesce(${horizon}::xid8, pg_snapshot_xmax(pg_current_snapshot()))`
}

/**
 * An earlier row of the same topic and key is parked: this one waits behind it (per-key order).
 * The md5 term matches the parked-key index, which holds a hash because a btree cannot hold long keys.
 * The first, uncorrelated test runs once per statement and is false while nothing is parked (the
 * usual case): the per-row lookup (an md5 and an index probe, ~1.7 µs a row, a third of a claim's
 * own cost) then never runs.
 */
function behindParkedRow(schema: string, row: string): string {
  return `(exists (select 1 from ${schema}.outbox any_parked where any_parked.status = 'parked')
      and exists (
        select 1 from ${schema}.outbox parked
        where parked.status = 'parked' and parked.topic = ${row}.topic
          and md5(parked.key) = md5(${row}.key) and parked.key = ${row}.key
          and parked.id < ${row}.id))`
}

/**
 * Awaiting the relay: pending and not waiting behind a parked row, so a relay publishes it without
 * an operator, now or once it is settled.
 */
export function awaitingRelayCondition(schema: string, row: string): string {
  return `${row}.status = 'pending' and not ${behindParkedRow(schema, row)}`
}

/** Publishable: pending, settled, and not waiting behind a parked row of its topic and key. */
export function publishableCondition(schema: string, row: string, idBound: string, horizon: string): string {
  return `${awaitingRelayCondition(schema, row)} and ${settled(row, idBound, horizon)}`
}

/** Unsettled: pending and committed, but held back by an open transaction that holds the horizon. */
export function unsettledCondition(row: string, horizon: string): string {
  return `${row}.status = 'pending' and ${row}.txid >= ${horizon}::xid8`
}
