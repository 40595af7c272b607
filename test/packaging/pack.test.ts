import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createTestDatabase, queryRows } from '../support/stack.js'

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const fixtures = join(repo, 'test/packaging/fixtures')
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin/tsc')

function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 120_000,
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** Bytes a directory takes on disk (allocated blocks), skipping the folders `skip` names. */
function diskBytes(path: string, skip: ReadonlySet<string> = new Set()): number {
  const stat = lstatSync(path)
  if (!stat.isDirectory()) return stat.blocks * 512
  return readdirSync(path)
    .filter((name) => !skip.has(name))
    .reduce((sum, name) => sum + diskBytes(join(path, name), skip), stat.blocks * 512)
}

/** Every installed package under node_modules (nested ones too), as name → its directories. */
function installedPackages(nodeModules: string, found = new Map<string, string[]>()): Map<string, string[]> {
  if (!existsSync(nodeModules)) return found
  for (const entry of readdirSync(nodeModules)) {
    if (entry.startsWith('.')) continue
    const dirs = entry.startsWith('@')
      ? readdirSync(join(nodeModules, entry)).map((name) => join(nodeModules, entry, name))
      : [join(nodeModules, entry)]
    for (const dir of dirs) {
      if (!existsSync(join(dir, 'package.json'))) continue
      const name = dir.slice(nodeModules.length + 1).replaceAll('\\', '/')
      found.set(name, [...(found.get(name) ?? []), dir])
      installedPackages(join(dir, 'node_modules'), found)
    }
  }
  return found
}

const MB = 1024 * 1024
const mb = (bytes: number) => Math.round((bytes / MB) * 10) / 10

describe('the npm package works from a project outside this repository', () => {
  let work: string
  let project: string
  let packedFiles: string[]

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'postbox-pack-'))
    project = join(work, 'app')
    const build = run('npm', ['run', 'build'], repo)
    assert.equal(build.status, 0, `npm run build failed:\n${build.stdout}${build.stderr}`)
    // The build just ran; --ignore-scripts keeps `prepack` from compiling a second time.
    const pack = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], repo)
    assert.equal(pack.status, 0, pack.stderr)
    const [packed] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[]
    assert.ok(packed)
    packedFiles = packed.files.map((f) => f.path)

    mkdirSync(project)
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'orders-app', version: '1.0.0', private: true, type: 'module' }),
    )
    const install = run(
      'npm',
      ['install', join(work, packed.filename), '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'],
      project,
    )
    assert.equal(install.status, 0, install.stderr)
  })
  after(() => {
    rmSync(work, { recursive: true, force: true })
  })

  test('the tarball holds the compiled library, the CLI and the migrations, and no sources or tests', () => {
    for (const path of [
      'package.json',
      'dist/bin/postbox.js',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/relay-api.js',
      'dist/src/relay-api.d.ts',
      'dist/src/testing.js',
      'dist/src/testing.d.ts',
      'migrations/0001_outbox.sql',
      'LICENSE',
    ]) {
      assert.ok(packedFiles.includes(path), `${path} is packed`)
    }
    if (existsSync(join(repo, 'README.md'))) assert.ok(packedFiles.includes('README.md'))
    assert.deepEqual(
      packedFiles.filter((f) => f.startsWith('test/') || f.startsWith('src/') || f.startsWith('examples/')),
      [],
    )
    // tsc never deletes output, so a module removed from src/ would otherwise ship stale.
    const stale = packedFiles.filter(
      (f) =>
        /^dist\/(src|bin)\/.*\.js$/.test(f) && !existsSync(join(repo, f.slice(5).replace(/\.js$/, '.ts'))),
    )
    assert.deepEqual(stale, [], 'compiled files without a source: clean dist/ and rebuild')
  })

  test('`npx postbox --help` exits 0 and lists the commands', () => {
    const help = run('npx', ['--no', '--', 'postbox', '--help'], project)
    assert.equal(help.status, 0, help.stderr)
    for (const command of ['migrate', 'relay', 'status'])
      assert.match(help.stdout, new RegExp(`^\\s+${command}\\b`, 'm'))
  })

  test('an ES module imports the write path from "postbox", the relay from "postbox/relay" and the helpers from "postbox/testing", and nothing else', () => {
    writeFileSync(
      join(project, 'use.mjs'),
      `import { createOutbox, defineEvent } from 'postbox'
import { Relay, serveRelayHttp } from 'postbox/relay'
import { outboxRowsIn, readPublished, waitForPublished } from 'postbox/testing'
const Placed = defineEvent({
  type: 'order.placed', topic: 'orders.v1', key: (o) => String(o.id),
  schema: { type: 'record', name: 'OrderPlaced', fields: [{ name: 'orderId', type: 'string' }] },
  toExternal: (o) => ({ orderId: String(o.id) }),
})
const outbox = createOutbox({ events: [Placed] })
console.log([typeof outbox.enqueue, typeof Relay, typeof serveRelayHttp, typeof outboxRowsIn,
  typeof readPublished, typeof waitForPublished].join(' '))
await import('postbox/dist/src/relay/relay.js').catch((e) => console.log(e.code))
`,
    )
    const result = run(process.execPath, ['use.mjs'], project)
    assert.equal(result.status, 0, result.stderr)
    assert.equal(
      result.stdout.trim(),
      'function function function function function function\nERR_PACKAGE_PATH_NOT_EXPORTED',
    )
  })

  test('a TypeScript file type-checks against the published types, which reject a wrong row or connection', () => {
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
        },
        files: ['check.ts'],
      }),
    )
    writeFileSync(
      join(project, 'check.ts'),
      `import { createOutbox, defineEvent, type SqlClient } from 'postbox'
// @ts-expect-error the relay is not part of the write path
import { Relay as NotOnTheWritePath } from 'postbox'
import { type PostboxSettings, Relay, resolveConfig } from 'postbox/relay'
import { outboxRowsIn, type PublishedEvent, waitForPublished } from 'postbox/testing'

interface OrderRow { id: number; total_cents: number }
const schema = { type: 'record', name: 'OrderPlaced', fields: [{ name: 'orderId', type: 'string' }] } as const
export const Placed = defineEvent({
  type: 'order.placed', topic: 'orders.v1', key: (o: OrderRow) => String(o.id), schema,
  toExternal: (o: OrderRow) => ({ orderId: String(o.id) }),
})
const settings: PostboxSettings = { events: [Placed], relay: { httpPort: 9464 } }
export const relay = new Relay(resolveConfig(settings))
const outbox = createOutbox({ events: [Placed] })
export async function place(trx: SqlClient): Promise<string> {
  const { eventId } = await outbox.enqueue(trx, Placed, { id: 1, total_cents: 100 })
  // @ts-expect-error a row of the wrong shape is refused by the event's row type
  await outbox.enqueue(trx, Placed, { id: 'x' })
  const rows = await outboxRowsIn(trx, { eventType: Placed.type })
  const published: PublishedEvent[] = await waitForPublished({ brokers: [], registryUrl: '' }, 'orders.v1')
  return eventId + rows.length + published.length
}
// @ts-expect-error a number is not a connection (the pg and knex types ship with the package)
place(42)
`,
    )
    const result = run(process.execPath, [tsc, '-p', 'tsconfig.json'], project)
    assert.equal(result.status, 0, result.stdout + result.stderr)
  })

  /** Imports one entry in a fresh node process that records every package the import loads. */
  function importEntry(entry: string): { exports: string[]; packages: string[] } {
    copyFileSync(join(fixtures, 'import-entry.mjs'), join(project, 'import-entry.mjs'))
    const log = join(work, `resolved-${entry.replace('/', '-')}.log`)
    const result = run(
      process.execPath,
      ['import-entry.mjs', entry, join(fixtures, 'resolve-hook.mjs'), log],
      project,
    )
    assert.equal(result.status, 0, result.stderr)
    return JSON.parse(result.stdout) as { exports: string[]; packages: string[] }
  }

  test('importing "postbox" loads avsc and no other package: no Kafka or registry client, knex, pg, node-cron, prom-client or pino', () => {
    const { exports, packages } = importEntry('postbox')
    assert.ok(exports.includes('createOutbox'), exports.join(' '))
    assert.deepEqual(packages, ['avsc', 'postbox'])
  })

  // Proves the recording sees both what our modules import and what CommonJS packages require.
  test('importing "postbox/relay" loads kafkajs and the registry client with its protobufjs', () => {
    const { exports, packages } = importEntry('postbox/relay')
    assert.ok(exports.includes('Relay'), exports.join(' '))
    for (const name of ['kafkajs', '@kafkajs/confluent-schema-registry', 'protobufjs'])
      assert.ok(packages.includes(name), `"postbox/relay" loaded: ${packages.join(' ')}`)
  })

  test('importing "postbox/testing" gives the test helpers', () => {
    const { exports } = importEntry('postbox/testing')
    assert.deepEqual(exports, ['outboxRowsIn', 'readPublished', 'waitForPublished'])
  })

  test('every source map in the package embeds the TypeScript it maps, since src/ is not shipped', () => {
    const maps = packedFiles.filter((f) => f.endsWith('.js.map'))
    assert.ok(maps.length > 0, 'the package ships source maps')
    for (const file of maps) {
      const map = JSON.parse(readFileSync(join(project, 'node_modules/postbox', file), 'utf8')) as {
        sources: string[]
        sourcesContent?: (string | null)[]
      }
      assert.equal(map.sourcesContent?.length, map.sources.length, `${file} embeds its sources`)
      assert.ok(
        map.sourcesContent?.every((source) => typeof source === 'string' && source.length > 0),
        file,
      )
    }
  })

  test('the installed manifest builds in prepack (no prepare), names tsx (not installed) and @opentelemetry/api optional peers, and ships the Apache-2.0 LICENSE', () => {
    const installed = join(project, 'node_modules/postbox')
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
      license: string
      scripts: Record<string, string>
      peerDependencies: Record<string, string>
      peerDependenciesMeta: Record<string, { optional?: boolean }>
    }
    assert.equal(manifest.scripts.prepare, undefined)
    assert.match(manifest.scripts.prepack ?? '', /tsc -p tsconfig\.json/)
    assert.ok(manifest.peerDependencies.tsx)
    assert.equal(manifest.peerDependenciesMeta.tsx?.optional, true)
    assert.equal(existsSync(join(project, 'node_modules/tsx')), false, 'an optional peer is not installed')
    // prom-client depends on @opentelemetry/api, so npm installs it anyway; Postbox asks for none.
    assert.ok(manifest.peerDependencies['@opentelemetry/api'])
    assert.equal(manifest.peerDependenciesMeta['@opentelemetry/api']?.optional, true)
    assert.equal(manifest.license, 'Apache-2.0')
    assert.match(
      readFileSync(join(installed, 'LICENSE'), 'utf8'),
      /^\s*Apache License\s+Version 2\.0, January 2004/,
    )
  })

  // Figures for the README ("What an install pulls in"); they are printed as test diagnostics.
  test('an enqueue-only service installs every dependency but loads only avsc; the relay loads the rest', (t) => {
    const nodeModules = join(project, 'node_modules')
    const installed = installedPackages(nodeModules)
    const packageBytes = (names: readonly string[]) =>
      names
        .flatMap((name) => installed.get(name) ?? [])
        .reduce((sum, dir) => sum + diskBytes(dir, new Set(['node_modules'])), 0)
    const writePath = importEntry('postbox').packages
    const relay = importEntry('postbox/relay').packages
    const figures = {
      installedPackages: installed.size,
      installedMB: mb(diskBytes(nodeModules)),
      enqueueOnly: { loadedPackages: writePath.length, loadedMB: mb(packageBytes(writePath)) },
      relay: { loadedPackages: relay.length, loadedMB: mb(packageBytes(relay)) },
    }
    t.diagnostic(`install and load figures: ${JSON.stringify(figures)}`)

    for (const name of [...writePath, ...relay]) assert.ok(installed.has(name), `${name} is installed`)
    // The relay's clients are regular dependencies, so an enqueue-only install carries them too.
    for (const name of ['kafkajs', 'knex', 'pg', 'prom-client', 'pino']) assert.ok(installed.has(name), name)
    assert.ok(figures.installedPackages > figures.relay.loadedPackages)
    assert.ok(figures.enqueueOnly.loadedPackages < figures.relay.loadedPackages)
    assert.ok(figures.enqueueOnly.loadedMB < figures.relay.loadedMB)
  })

  test('`postbox migrate` from the installed package finds its migrations and migrates a fresh database', async () => {
    const db = await createTestDatabase('pbpack')
    try {
      const result = run('npx', ['--no', '--', 'postbox', 'migrate'], project, { DATABASE_URL: db.url })
      assert.equal(result.status, 0, result.stderr)
      assert.match(result.stdout, /applied 0001_outbox\.sql/)
      const [row] = await queryRows<{ leases: number }>(
        db.url,
        'select count(*)::int as leases from postbox.shard_lease',
      )
      assert.equal(row?.leases, 16)
    } finally {
      await db.drop()
    }
  })
  test('an enqueue-only service enqueues with pg and stores no trace context, with @opentelemetry/api but no SDK, and without the package', async () => {
    const db = await createTestDatabase('pbpack')
    const api = join(project, 'node_modules/@opentelemetry/api')
    try {
      const migrated = run('npx', ['--no', '--', 'postbox', 'migrate'], project, { DATABASE_URL: db.url })
      assert.equal(migrated.status, 0, migrated.stderr)
      writeFileSync(
        join(project, 'enqueue.mjs'),
        `import pg from 'pg'
import { createOutbox, defineEvent } from 'postbox'
const Placed = defineEvent({
  type: 'order.placed', topic: 'orders.v1', key: (o) => String(o.id),
  schema: { type: 'record', name: 'OrderPlaced', fields: [{ name: 'orderId', type: 'string' }] },
  toExternal: (o) => ({ orderId: String(o.id) }),
})
const outbox = createOutbox({ events: [Placed] })
const client = new pg.Client({ connectionString: process.env.DATABASE_URL })
await client.connect()
await client.query('BEGIN')
const { id } = await outbox.enqueue(client, Placed, { id: 1 })
await client.query('COMMIT')
const { rows } = await client.query('select headers from postbox.outbox where id = $1', [id])
await client.end()
console.log(JSON.stringify(rows[0].headers))
`,
      )
      const withApi = run(process.execPath, ['enqueue.mjs'], project, { DATABASE_URL: db.url })
      assert.equal(withApi.status, 0, withApi.stderr)
      assert.equal(withApi.stdout.trim(), '{}')
      // As if it were not installed: hidden for this run only, since the relay's prom-client needs it.
      renameSync(api, `${api}.hidden`)
      const withoutApi = run(process.execPath, ['enqueue.mjs'], project, { DATABASE_URL: db.url })
      assert.equal(withoutApi.status, 0, withoutApi.stderr)
      assert.equal(withoutApi.stdout.trim(), '{}')
    } finally {
      if (existsSync(`${api}.hidden`)) renameSync(`${api}.hidden`, api)
      await db.drop()
    }
  })
})
