const NUL = '\u0000'

/** PostgreSQL text and JSONB cannot hold U+0000; it becomes U+FFFD, the replacement character. */
export function replaceNul(text: string): string {
  return text.replaceAll(NUL, '\uFFFD')
}

/** `value` (JSON data) with every NUL in every string replaced, counted in `counter` when one is given. */
export function withoutNul<T>(value: T, counter?: { count: number }): T {
  if (typeof value === 'string') {
    if (!value.includes(NUL)) return value
    if (counter) counter.count += value.split(NUL).length - 1
    return replaceNul(value) as T
  }
  if (Array.isArray(value)) return value.map((item) => withoutNul(item, counter)) as T
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [withoutNul(key, counter), withoutNul(item, counter)])) as T
  }
  return value
}
