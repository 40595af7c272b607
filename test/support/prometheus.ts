/** The value of one sample in a Prometheus text exposition, or undefined when the series is absent. */
export function sampleValue(
  exposition: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of exposition.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null || match[1] !== name) continue
    const found = new Map<string, string>()
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      found.set(key as string, (value as string).replace(/\\(.)/g, '$1'))
    }
    const wanted = Object.entries(labels)
    if (found.size === wanted.length && wanted.every(([k, v]) => found.get(k) === v)) return Number(match[3])
  }
  return undefined
}

export async function httpGet(url: string): Promise<{ status: number; contentType: string; body: string }> {
  const response = await fetch(url)
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    body: await response.text(),
  }
}
