import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { confirmAction } from '../../src/cli/confirm.js'
import type { CliIo } from '../../src/cli/io.js'
import { UsageError } from '../../src/cli/usage-error.js'

/** A terminal that answers every question with `answer` and remembers what it was asked. */
function terminal(answer: string | null): CliIo & { asked: string[] } {
  const asked: string[] = []
  return {
    asked,
    out: () => {},
    err: () => {},
    interactive: answer !== null,
    canPrompt: answer !== null,
    ask: async (question) => {
      asked.push(question)
      return answer ?? ''
    },
  }
}

describe('confirmation before destructive actions', () => {
  test('--yes goes ahead without asking', async () => {
    const io = terminal('n')
    assert.equal(await confirmAction(io, { yes: true, action: 'delete 3 rows' }), true)
    assert.deepEqual(io.asked, [])
  })

  test('on a terminal it asks and goes ahead only on y or yes', async () => {
    for (const [answer, expected] of [
      ['y', true],
      ['YES', true],
      ['n', false],
      ['', false],
    ] as const) {
      const io = terminal(answer)
      assert.equal(await confirmAction(io, { yes: false, action: 'delete 3 rows' }), expected, answer)
      assert.deepEqual(io.asked, ['delete 3 rows? [y/N] '])
    }
  })

  test('without a terminal on stdin it refuses with a usage error that names --yes', async () => {
    await assert.rejects(confirmAction(terminal(null), { yes: false, action: 'delete 3 rows' }), (error) => {
      assert.ok(error instanceof UsageError)
      assert.match(
        error.message,
        /refusing to delete 3 rows without confirmation: stdin is not a terminal, so pass --yes/,
      )
      return true
    })
  })
})
