const NUL = /\u0000/g

/** PostgreSQL text and JSONB cannot hold U+0000; it becomes U+FFFD, the replacement character. */
export function replaceNul(text: string): string {
  return text.replace(NUL, '\uFFFD')
}

/** JSON text for a JSONB parameter, with every NUL in every string replaced. */
export function toJsonb(value: unknown): string | null {
  if (value === null || value === undefined) return null
  return JSON.stringify(value, (_key, item) => (typeof item === 'string' ? replaceNul(item) : item))
}
