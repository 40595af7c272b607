import type { Compatibility } from '../catalog/types.js'
import type { AvroCodec } from '../schema/codec.js'

/** How to make a change acceptable under each level (shown with an incompatibility). */
export const COMPATIBILITY_FIX: Record<Compatibility, string> = {
  BACKWARD: 'give every new field a default and keep old fields readable (same name and a promotable type)',
  BACKWARD_TRANSITIVE:
    'give every new field a default and keep old fields readable (same name and a promotable type)',
  FORWARD: 'only add fields, or remove fields that had a default',
  FORWARD_TRANSITIVE: 'only add fields, or remove fields that had a default',
  FULL: 'only add or remove fields that have a default',
  FULL_TRANSITIVE: 'only add or remove fields that have a default',
  NONE: '',
}

/** Why `local` may not follow the registered versions under `level` (empty when it may). */
export function compatibilityProblems(
  local: AvroCodec,
  versions: readonly { version: number; codec: AvroCodec }[],
  level: Compatibility,
): string[] {
  const backward = level.startsWith('BACKWARD') || level.startsWith('FULL')
  const forward = level.startsWith('FORWARD') || level.startsWith('FULL')
  const problems: string[] = []
  for (const { version, codec } of versions) {
    const cannotReadOld = backward ? local.readProblem(codec) : null
    if (cannotReadOld !== null) {
      problems.push(`the new schema cannot read data written with version ${version}: ${cannotReadOld}`)
    }
    const oldCannotRead = forward ? codec.readProblem(local) : null
    if (oldCannotRead !== null) {
      problems.push(
        `readers of version ${version} cannot read data written with the new schema: ${oldCannotRead}`,
      )
    }
  }
  return problems
}
