const NUL = '\u0000'
const REPLACEMENT = '\uFFFD'

/**
 * PostgreSQL cannot store U+0000 (text nor JSONB) nor half of a surrogate pair (JSONB refuses the
 * escape): each becomes U+FFFD, the replacement character. For text the server did not take from a
 * user's request (model answers, imported files), which the API refuses instead (src/validation.ts).
 */
export function storableText(text: string): string {
  const withoutNul = text.includes(NUL) ? text.replaceAll(NUL, REPLACEMENT) : text
  return withoutNul.isWellFormed() ? withoutNul : withoutNul.toWellFormed()
}

/** How many U+FFFD characters `text` holds: what a replacement added is the count after less the count before. */
export function replacementCount(text: string): number {
  let count = 0
  for (let at = text.indexOf(REPLACEMENT); at !== -1; at = text.indexOf(REPLACEMENT, at + 1)) count++
  return count
}

/** `value` (JSON data) with every string made storable (`storableText`), replacements counted in `counter` when one is given. */
export function storable<T>(value: T, counter?: { count: number }): T {
  if (typeof value === 'string') {
    if (!value.includes(NUL) && value.isWellFormed()) return value
    const stored = storableText(value)
    if (counter) counter.count += replacementCount(stored) - replacementCount(value)
    return stored as T
  }
  if (Array.isArray(value)) return value.map((item) => storable(item, counter)) as T
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [storable(key, counter), storable(item, counter)])) as T
  }
  return value
}
