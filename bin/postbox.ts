#!/usr/bin/env node
// The only place that reads the environment, argv and signals.
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline/promises'
import { setFlagsFromString } from 'node:v8'
import { runCli } from '../src/cli/program.js'
import { type ShutdownSignal, SIGNAL_EXIT_CODE } from '../src/cli/runtime.js'
import { connectionEnvironment } from '../src/connect/environment.js'

// package.json sits at the package root: two levels above dist/bin/postbox.js, one above bin/postbox.ts.
function packageVersion(): string {
  for (const path of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as {
        name?: string
        version?: string
      }
      if (pkg.name === 'postbox' && typeof pkg.version === 'string') return pkg.version
    } catch {}
  }
  return 'unknown'
}

// V8 lets the old generation grow to a multiple of what survived the last full collection before
// collecting again; with its own choice (up to 4×) a relay draining a backlog sat at ~260 MB RSS
// around ~30 MB of live objects. At 1.75× it stays under 200 MB at the same throughput (README,
// "Benchmarks"). The factor is read at each collection, so it applies when set here; an
// operator's own setting (NODE_OPTIONS or a node flag) is left alone.
const HEAP_GROWING_PERCENT = 75
const nodeFlags = `${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`
if (!/heap[-_]growing[-_]percent/.test(nodeFlags)) {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
}

const handlers: ((signal: ShutdownSignal) => void)[] = []
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    // A command that does not listen for signals (nothing to finish) stops at once.
    if (handlers.length === 0) process.exit(SIGNAL_EXIT_CODE[signal])
    for (const handler of handlers) handler(signal)
  })
}

const code = await runCli(process.argv.slice(2), {
  env: {
    DATABASE_URL: process.env.DATABASE_URL,
    KAFKA_BROKERS: process.env.KAFKA_BROKERS,
    SCHEMA_REGISTRY_URL: process.env.SCHEMA_REGISTRY_URL,
    POSTBOX_SCHEMA: process.env.POSTBOX_SCHEMA,
    POSTBOX_CONFIG: process.env.POSTBOX_CONFIG,
    LOG_LEVEL: process.env.LOG_LEVEL,
    ...connectionEnvironment(process.env),
  },
  io: {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    interactive: process.stdout.isTTY === true,
    canPrompt: process.stdin.isTTY === true,
    ask: async (question) => {
      const prompt = createInterface({ input: process.stdin, output: process.stderr })
      try {
        return await prompt.question(question)
      } finally {
        prompt.close()
      }
    },
  },
  version: packageVersion(),
  onShutdownSignal: (handler) => {
    handlers.push(handler)
  },
})
process.exit(code)
