import { spawn } from 'node:child_process'
import { stack, waitFor } from './stack.js'

export interface CliRun {
  code: number | null
  stdout: string
  stderr: string
  elapsedMs: number
}

export interface CliOptions {
  databaseUrl: string
  env?: Record<string, string>
}

/** The built CLI (`node dist/bin/postbox.js`) started with connection settings from the environment only. */
function spawnPostbox(args: readonly string[], options: CliOptions) {
  return spawn(process.execPath, ['dist/bin/postbox.js', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      DATABASE_URL: options.databaseUrl,
      KAFKA_BROKERS: stack.brokers.join(','),
      SCHEMA_REGISTRY_URL: stack.registryUrl,
      LOG_LEVEL: 'warn',
      ...options.env,
    },
  })
}

/**
 * Runs the CLI to its end, as an operator would. stdin is a pipe, never a terminal, so
 * confirmations need --yes.
 */
export function runPostbox(
  args: readonly string[],
  options: CliOptions & { timeoutMs?: number },
): Promise<CliRun> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const child = spawnPostbox(args, options)
    child.stdin.end()
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8')
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8')
    })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`postbox ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, options.timeoutMs ?? 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr, elapsedMs: Date.now() - started })
    })
  })
}

/** A long-running CLI process (`postbox relay`), its output captured while it runs. */
export interface RunningPostbox {
  /** stdout and stderr so far. */
  output(): string
  /** The port of its `serving … on port N` log line (LOG_LEVEL info or lower). */
  port(): Promise<string>
  /** Its exit code, once it has exited. */
  exited: Promise<number | null>
  /** SIGTERM, then its exit code. */
  stop(): Promise<number | null>
}

export function startPostbox(args: readonly string[], options: CliOptions): RunningPostbox {
  let output = ''
  const child = spawnPostbox(args, options)
  child.stdin.end()
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8')
  })
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8')
  })
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
  return {
    output: () => output,
    port: () => waitFor('the HTTP port', async () => /on port (\d+)/.exec(output)?.[1]),
    exited,
    stop() {
      child.kill('SIGTERM')
      return exited
    },
  }
}
