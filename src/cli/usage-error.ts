/** The command line was well-formed for commander but asks for something the command refuses (exit 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** Shown under a usage error instead of the whole help text. */
export const USAGE_HINT = '(add --help for usage)'
