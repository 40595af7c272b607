// One table on stdout and one JSON file per run.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

export interface Figure {
  key: string
  value: number
  unit: string
  what: string
}

const format = (value: number) =>
  Number.isNaN(value) ? 'n/a' : Math.abs(value) >= 100 ? String(Math.round(value)) : value.toFixed(2)

export function printTable(figures: readonly Figure[]): void {
  const keyWidth = Math.max(...figures.map((f) => f.key.length))
  const valueWidth = Math.max(...figures.map((f) => format(f.value).length))
  const unitWidth = Math.max(...figures.map((f) => f.unit.length))
  console.log(
    `\n${'figure'.padEnd(keyWidth)}  ${'value'.padStart(valueWidth)}  ${'unit'.padEnd(unitWidth)}  what`,
  )
  for (const f of figures) {
    console.log(
      `${f.key.padEnd(keyWidth)}  ${format(f.value).padStart(valueWidth)}  ${f.unit.padEnd(unitWidth)}  ${f.what}`,
    )
  }
}

export function writeResults(
  path: string,
  figures: readonly Figure[],
  context: Record<string, unknown>,
): void {
  const values: Record<string, number | null> = {}
  for (const f of figures) values[f.key] = Number.isNaN(f.value) ? null : Math.round(f.value * 100) / 100
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, `${JSON.stringify({ ...values, ...context }, null, 2)}\n`)
}
