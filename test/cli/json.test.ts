import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { runPostbox } from '../support/cli.js'
import { orderEvent } from '../support/events.js'
import { createMigratedDatabase, queryRows, stack, uniqueName, waitFor } from '../support/stack.js'

const CONFIG = 'test/cli/fixtures/orders.config.ts'
const CAMEL_CASE = /^[a-z][a-zA-Z0-9]*$/

/** Every object key in `value`, at any depth, with the path that leads to it. */
function keysOf(value: unknown, path = '$'): string[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => keysOf(item, `${path}[${i}]`))
  if (typeof value !== 'object' || value === null) return []
  return Object.entries(value).flatMap(([key, inner]) => [
    `${path}.${key}`,
    ...keysOf(inner, `${path}.${key}`),
  ])
}

/** Parses one `--json` document and checks what every document promises: `version` and camelCase keys. */
function parseDocument(line: string): Record<string, unknown> {
  const document = JSON.parse(line) as Record<string, unknown>
  assert.equal(document.version, 1, `no version 1 in ${line}`)
  const wrong = keysOf(document).filter((path) => !CAMEL_CASE.test(path.slice(path.lastIndexOf('.') + 1)))
  assert.deepEqual(wrong, [], `keys not in camelCase in ${line}`)
  return document
}

describe('--json output', () => {
  let db: Awaited<ReturnType<typeof createMigratedDatabase>>
  const topic = uniqueName('cli.json')
  const event = orderEvent(topic)

  const insertRow = (key: string, status: 'pending' | 'parked' | 'sent') =>
    queryRows(
      db.url,
      `insert into postbox.outbox (event_id, event_type, topic, key, payload, status, attempts, parked_at, last_error, sent_at)
       values (gen_random_uuid(), $1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        event.type,
        topic,
        key,
        JSON.stringify({ id: Number(key), customer: 'c', total_cents: 1, status: 'new', version: 1 }),
        status,
        status === 'parked' ? 1 : 0,
        status === 'parked' ? new Date() : null,
        status === 'parked' ? `${event.type}: the record does not match the schema` : null,
        status === 'sent' ? new Date(Date.now() - 30 * 86_400_000) : null,
      ],
    )

  before(async () => {
    db = await createMigratedDatabase('pbclijson')
    await insertRow('1', 'pending')
    await insertRow('2', 'parked')
    await insertRow('3', 'sent')
  })
  after(async () => {
    await db.drop()
  })

  const cli = (...args: string[]) =>
    runPostbox(['--config', CONFIG, ...args], { databaseUrl: db.url, env: { PBTEST_TOPIC: topic } })

  const commands: [string, string[], string[]][] = [
    ['status', ['status', '--json'], ['at', 'topics', 'relays', 'waiting', 'pendingMigrations']],
    ['parked list', ['parked', 'list', '--json'], ['rows']],
    [
      'purge --dry-run',
      ['purge', '--sent', '--dry-run', '--json'],
      ['dryRun', 'matched', 'deleted', 'batches', 'stopped'],
    ],
    [
      'replay --dry-run',
      ['replay', '--topic', topic, '--dry-run', '--json'],
      ['dryRun', 'matched', 'queued', 'upToId', 'stopped', 'sample'],
    ],
    ['schemas check', ['schemas', 'check', '--json'], ['subjects']],
  ]
  for (const [name, args, fields] of commands) {
    test(`${name} --json prints one compact document with version and camelCase keys`, async () => {
      const run = await cli(...args)
      assert.equal(run.code, 0, run.stderr)
      const lines = run.stdout.trimEnd().split('\n')
      assert.equal(lines.length, 1, `one line: ${run.stdout}`)
      const document = parseDocument(lines[0] ?? '')
      assert.deepEqual(Object.keys(document), ['version', ...fields])
    })
  }

  test('status --json reports a topic with camelCase fields', async () => {
    const document = parseDocument((await cli('status', '--json')).stdout)
    const row = (document.topics as { topic: string }[]).find((t) => t.topic === topic)
    assert.deepEqual(Object.keys(row ?? {}), [
      'topic',
      'pending',
      'parked',
      'oldestPendingSeconds',
      'sentLastMinute',
    ])
  })

  test('parked list --json names the row fields in camelCase', async () => {
    const { rows } = parseDocument((await cli('parked', 'list', '--json')).stdout) as { rows: object[] }
    assert.equal(rows.length, 1)
    assert.deepEqual(Object.keys(rows[0] ?? {}), [
      'id',
      'eventType',
      'topic',
      'key',
      'attempts',
      'parkedAt',
      'lastError',
    ])
  })

  test('status --watch --json prints one parseable document per line until SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      ['dist/bin/postbox.js', 'status', '--watch', '--json', '--interval', '0.2'],
      {
        env: { PATH: process.env.PATH ?? '', DATABASE_URL: db.url, KAFKA_BROKERS: stack.brokers.join(',') },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let stdout = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8')
    })
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
    await waitFor('three reports', async () => ((stdout.match(/\n/g) ?? []).length >= 3 ? true : undefined))
    child.kill('SIGTERM')
    assert.equal(await exited, 0)
    const lines = stdout.trimEnd().split('\n')
    assert.ok(lines.length >= 3)
    for (const line of lines) assert.ok(Array.isArray(parseDocument(line).topics))
  })

  test("status shows the blocking transaction's query text only with --show-query", async () => {
    const holder = new pg.Client({ connectionString: db.url })
    await holder.connect()
    try {
      const pid = ((await holder.query('select pg_backend_pid() as pid')).rows[0] as { pid: number }).pid
      await holder.query('begin')
      await holder.query(
        `insert into postbox.outbox (event_id, event_type, topic, key, payload)
         values (gen_random_uuid(), $1, $2, '10', '{}')`,
        [event.type, topic],
      )
      await holder.query(`select 'secret-marker' as last_statement`)
      await insertRow('11', 'pending')

      const hidden = parseDocument((await cli('status', '--json', '--stall-seconds', '0')).stdout) as {
        waiting: { transaction: { pid: number; query: string | null } | null } | null
      }
      assert.equal(hidden.waiting?.transaction?.pid, pid)
      assert.equal(hidden.waiting?.transaction?.query, null)
      const text = await cli('status', '--stall-seconds', '0')
      assert.match(text.stdout, new RegExp(`pid ${pid}`))
      assert.doesNotMatch(text.stdout, /secret-marker/)
      assert.match(text.stdout, /add --show-query for its query text/)

      const shown = parseDocument(
        (await cli('status', '--json', '--stall-seconds', '0', '--show-query')).stdout,
      ) as { waiting: { transaction: { query: string | null } | null } | null }
      assert.match(shown.waiting?.transaction?.query ?? '', /secret-marker/)
      assert.match((await cli('status', '--stall-seconds', '0', '--show-query')).stdout, /secret-marker/)
    } finally {
      await holder.query('rollback')
      await holder.end()
    }
  })

  test('relay --until-drained writes only JSON log lines, on stdout and stderr', async () => {
    const run = await runPostbox(['--config', CONFIG, 'relay', '--until-drained', '--http-port', '0'], {
      databaseUrl: db.url,
      env: { PBTEST_TOPIC: topic, LOG_LEVEL: 'info' },
      timeoutMs: 180_000,
    })
    assert.equal(run.code, 0, run.stderr)
    const lines = `${run.stdout}${run.stderr}`.split('\n').filter((line) => line !== '')
    const messages = lines.map((line) => {
      assert.doesNotThrow(() => JSON.parse(line), `not a JSON line: ${line}`)
      return (JSON.parse(line) as { msg?: string }).msg ?? ''
    })
    assert.ok(
      messages.some((m) => /^serving \/metrics, \/healthz and \/readyz on port \d+$/.test(m)),
      lines.join('\n'),
    )
    assert.ok(
      messages.some((m) => / running \(schema postbox, brokers /.test(m)),
      lines.join('\n'),
    )
    assert.ok(messages.includes('outbox drained'), lines.join('\n'))
  })

  test('a relay that cannot start says why in a JSON log line, exit 1', async () => {
    const run = await runPostbox(['relay'], { databaseUrl: db.url, env: { LOG_LEVEL: 'info' } })
    assert.equal(run.code, 1, run.stderr)
    const lines = `${run.stdout}${run.stderr}`.split('\n').filter((line) => line !== '')
    assert.equal(lines.length, 1, lines.join('\n'))
    const line = JSON.parse(lines[0] ?? '') as { level: number; msg: string; exitCode: number }
    assert.equal(line.level, 50, 'logged as an error')
    assert.match(line.msg, /^no config file: pass --config <file>/)
    assert.equal(line.exitCode, 1)
  })
})
