/**
 * The one place secrets are taken out of text Postbox shows: logs, error messages, /readyz,
 * /metrics and everything the CLI prints. Secrets are removed by shape (URL userinfo passwords,
 * `password=` parameters, Authorization values) and by value: every password, token and
 * passphrase Postbox reads is remembered here when its settings are resolved.
 */

const MASK = '***'
const known = new Set<string>()
// Longest first, so a secret containing another is masked whole.
let ordered: string[] = []

/** Makes `value` a secret that redact() removes wherever it appears (also URL-encoded). */
export function rememberSecret(value: string | undefined | null): void {
  // Very short values would mask ordinary words; they are still masked by shape.
  if (typeof value !== 'string' || value.length < 4) return
  if (known.has(value)) return
  known.add(value)
  known.add(encodeURIComponent(value))
  ordered = [...known].sort((a, b) => b.length - a.length)
}

const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:@/?#]*):([^\s@/?#]*)@/gi
const SECRET_PARAMETER =
  /\b(password|passwd|sslpassword|passphrase|token|access_token|api_key|apikey|secret)=([^&\s"',;]+)/gi
const AUTHORIZATION_VALUE = /\b(Basic|Bearer) [A-Za-z0-9._~+/=-]{8,}/g

/** `text` with every secret replaced by ***. */
export function redact(text: string): string {
  let out = text
    .replace(URL_USERINFO, `$1$2:${MASK}@`)
    .replace(SECRET_PARAMETER, `$1=${MASK}`)
    .replace(AUTHORIZATION_VALUE, `$1 ${MASK}`)
  for (const secret of ordered) {
    if (out.includes(secret)) out = out.split(secret).join(MASK)
  }
  return out
}

/** A copy of `value` with redact() applied to every string in it (for structured log fields). */
export function redactDeep(value: unknown): unknown {
  if (typeof value === 'string') return redact(value)
  if (value instanceof Error) return redact(String(value.stack ?? value.message))
  if (Array.isArray(value)) return value.map(redactDeep)
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value) || value instanceof Date)
    return value
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)]))
}
