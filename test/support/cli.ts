import { spawn } from 'node:child_process'
import { stack } from './stack.js'

export interface CliRun {
  code: number | null
  stdout: string
  stderr: string
  elapsedMs: number
}

/**
 * Runs the built CLI (`node dist/bin/postbox.js`) as an operator would, with connection settings
 * from the environment only. stdin is a pipe, never a terminal, so confirmations need --yes.
 */
export function runPostbox(
  args: readonly string[],
  options: { databaseUrl: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<CliRun> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['dist/bin/postbox.js', ...args], {
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
