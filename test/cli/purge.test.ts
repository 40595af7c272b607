import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, test } from 'node:test'
import { runPostbox } from '../support/cli.js'
import { createMigratedDatabase, queryRows } from '../support/stack.js'

describe('postbox purge', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>

  before(async () => {
    db = await createMigratedDatabase('pbclipurge')
  })
  after(async () => db.drop())

  // 2 500 sent 10 days ago, 5 sent just now, 3 parked and 2 skipped 10 days ago, 4 old pending rows.
  beforeEach(async () => {
    await queryRows(db.url, 'truncate postbox.outbox')
    await queryRows(
      db.url,
      `insert into postbox.outbox (event_id, event_type, topic, key, payload, status, created_at, sent_at, parked_at)
       select gen_random_uuid(), 'order.changed', 'orders', (g % 50)::text, '{}'::jsonb, s.status,
              now() - interval '11 days', case when s.status = 'sent' then s.at end,
              case when s.status in ('parked', 'skipped') then s.at end
       from (values ('sent', 2500, now() - interval '10 days'), ('sent', 5, now()),
                    ('parked', 3, now() - interval '10 days'), ('skipped', 2, now() - interval '10 days'),
                    ('pending', 4, null::timestamptz)) as s(status, n, at),
            generate_series(1, s.n) as g`,
    )
  })

  const counts = async () =>
    Object.fromEntries(
      (
        await queryRows<{ status: string; n: number }>(
          db.url,
          'select status, count(*)::int as n from postbox.outbox group by status order by status',
        )
      ).map((r) => [r.status, r.n]),
    )

  const purge = (...args: string[]) => runPostbox(['purge', ...args], { databaseUrl: db.url })

  test('--dry-run prints how many rows would go and deletes nothing', async () => {
    const result = await purge('--sent', '--older-than', '7d', '--dry-run')
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /^dry run: 2500 sent rows older than \S+ would be deleted; nothing changed/)
    assert.deepEqual(await counts(), { parked: 3, pending: 4, sent: 2505, skipped: 2 })
  })

  test('--sent --older-than 7d deletes only sent rows older than seven days, 1000 per statement, and says how many went', async () => {
    const result = await purge('--sent', '--older-than', '7d', '--yes', '--json')
    assert.equal(result.code, 0, result.stderr)
    assert.deepEqual(JSON.parse(result.stdout), {
      version: 1,
      dryRun: false,
      matched: 2500,
      deleted: 2500,
      batches: 3,
      stopped: false,
    })
    assert.deepEqual(await counts(), { parked: 3, pending: 4, sent: 5, skipped: 2 })
  })

  test('--batch sets the rows per statement and the text output names the count and batches', async () => {
    const result = await purge('--sent', '--older-than', '7d', '--batch', '500', '--yes')
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /^deleted 2500 sent rows older than \S+ in 5 batch\(es\)/)
    assert.match(
      result.stderr,
      /purge: 2500\/2500 \(100%\)/,
      'progress lines go to stderr when not on a terminal',
    )
  })

  test('--parked --skipped removes parked and skipped rows and never a pending one', async () => {
    const result = await purge('--parked', '--skipped', '--yes', '--json')
    assert.equal(result.code, 0, result.stderr)
    assert.deepEqual(JSON.parse(result.stdout), {
      version: 1,
      dryRun: false,
      matched: 5,
      deleted: 5,
      batches: 1,
      stopped: false,
    })
    assert.deepEqual(await counts(), { pending: 4, sent: 2505 })
  })

  test('without --yes it refuses with exit 2 when stdin is not a terminal, and deletes nothing', async () => {
    const result = await purge('--sent')
    assert.equal(result.code, 2)
    assert.match(
      result.stderr,
      /refusing to delete 2505 sent rows without confirmation: stdin is not a terminal, so pass --yes/,
    )
    assert.deepEqual(await counts(), { parked: 3, pending: 4, sent: 2505, skipped: 2 })
  })

  test('without --sent, --parked or --skipped it is a usage error with exit 2', async () => {
    const result = await purge('--older-than', '7d', '--yes')
    assert.equal(result.code, 2)
    assert.match(result.stderr, /choose what to purge: --sent, --parked and\/or --skipped/)
  })

  test('a malformed --older-than is a usage error with exit 2', async () => {
    const result = await purge('--sent', '--older-than', 'a week', '--yes')
    assert.equal(result.code, 2)
    assert.match(result.stderr, /expected a duration such as 90s, 15m, 2h, 7d or 1w/)
  })
})
