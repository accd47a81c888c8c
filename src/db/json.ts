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

/** How many characters `storableText` replaces in `text`. */
function unstorableCount(text: string): number {
  let count = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0) count++
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++
    else if (c >= 0xd800 && c <= 0xdfff) count++
  }
  return count
}

/** `value` (JSON data) with every string made storable (`storableText`), replacements counted in `counter` when one is given. */
export function storable<T>(value: T, counter?: { count: number }): T {
  if (typeof value === 'string') {
    if (!value.includes(NUL) && value.isWellFormed()) return value
    if (counter) counter.count += unstorableCount(value)
    return storableText(value) as T
  }
  if (Array.isArray(value)) return value.map((item) => storable(item, counter)) as T
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [storable(key, counter), storable(item, counter)])) as T
  }
  return value
}
