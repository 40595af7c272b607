#!/usr/bin/env node
// The only place that reads the environment, argv and signals.
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline/promises'
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
