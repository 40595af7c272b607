// The machine, versions and load the figures were measured on.
import { readFileSync } from 'node:fs'
import { cpus, loadavg, release, totalmem, type } from 'node:os'
import { kafkajsTuning } from './relay-api.js'
import { adminQuery } from './stack.js'

const root = new URL('..', import.meta.url)

function packageVersion(name: string): string {
  const text = readFileSync(new URL(`node_modules/${name}/package.json`, root), 'utf8')
  return (JSON.parse(text) as { version: string }).version
}

/** The broker's version is not in the protocol kafkajs speaks; scripts/stack pins what the local stack runs. */
function stackKafkaVersion(): string {
  const chosen = process.env.STACK_KAFKA_VERSION
  if (chosen !== undefined && chosen !== '') return `${chosen} (STACK_KAFKA_VERSION)`
  const text = readFileSync(new URL('scripts/stack', root), 'utf8')
  const match = /^KAFKA_VERSION=\$\{STACK_KAFKA_VERSION:-([^}]+)\}/m.exec(text)
  return match ? `${match[1]} (scripts/stack default)` : 'unknown'
}

export async function describeEnvironment(databaseUrl: string) {
  const [server] = await adminQuery<{ server_version: string }>(databaseUrl, 'show server_version')
  return {
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
      os: `${type()} ${release()}`,
      // An object, not an array: the formatter keeps the written JSON as it is.
      loadAverageAtStart: Object.fromEntries(
        ['1m', '5m', '15m'].map((window, i) => [window, Math.round((loadavg()[i] ?? 0) * 100) / 100]),
      ),
    },
    versions: {
      node: process.version,
      postgres: server?.server_version ?? 'unknown',
      kafka: stackKafkaVersion(),
      kafkajs: packageVersion('kafkajs'),
      // What src/kafka/kafkajs-tuning.ts replaced in this process (the raw producer row uses it too).
      kafkajsTuning: kafkajsTuning.applied.join(', ') || `none (${kafkajsTuning.skipped.join('; ')})`,
      postbox: (JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { version: string })
        .version,
    },
  }
}
