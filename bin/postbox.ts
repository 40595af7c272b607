#!/usr/bin/env node
// The only place that reads the environment, argv and signals.
import { createInterface } from 'node:readline/promises'
import { runCli } from '../src/cli/program.js'
import { connectionEnvironment } from '../src/connect/environment.js'

const handlers: (() => void)[] = []
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    for (const handler of handlers) handler()
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
  onShutdownSignal: (handler) => handlers.push(handler),
})
process.exit(code)
