import { createHash } from 'node:crypto'

// The rules every layer shares (the schema, the routes, auth, import): each is defined here once.

/** The user of AUTH_MODE=none, and the owner of imported files that name no user. */
export const LOCAL_USER_ID = 'local'

export const USER_ID_MAX_LENGTH = 128
/**
 * A user id, from any source (a token, a header, an admin path, a file): a string of 1-128 characters
 * (code points), none of them a control character or half of a surrogate pair. A lone surrogate is
 * refused, not folded into U+FFFD, where two different ids would become one user. Read in Unicode mode
 * (`u`), as Ajv reads schema patterns.
 */
export const USER_ID_PATTERN = `^[^\\u0000-\\u001f\\u007f\\ud800-\\udfff]{1,${USER_ID_MAX_LENGTH}}$`
const USER_ID = new RegExp(USER_ID_PATTERN, 'u')

export function isUserId(value: unknown): value is string {
  return typeof value === 'string' && USER_ID.test(value)
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

// A fixed namespace: the same file always maps to the same UUID, so re-runs stay idempotent.
const NAMESPACE = 'llm-council-server/import/v1'

/** A UUID (version 5 layout, SHA-1) derived from the owner and a non-UUID id an imported conversation had. */
export function derivedUuid(userId: string, sourceId: string): string {
  const hash = createHash('sha1').update(`${NAMESPACE}\u0000${userId}\u0000${sourceId}`).digest()
  hash[6] = (hash[6]! & 0x0f) | 0x50
  hash[8] = (hash[8]! & 0x3f) | 0x80
  const hex = hash.subarray(0, 16).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/**
 * A conversation id as a route receives it: a UUID, or the id an imported conversation had before
 * (not a UUID), which maps to the UUID it was stored under for this owner.
 */
export function conversationKey(userId: string, id: string): string {
  return UUID.test(id) ? id.toLowerCase() : derivedUuid(userId, id)
}

/** An id a route accepts: a UUID or an imported conversation's former id (up to this many code points, no control characters). */
export const CONVERSATION_ID_MAX_LENGTH = 200
export const CONVERSATION_ID_PATTERN = '^[^\\u0000-\\u001f\\u007f\\ud800-\\udfff]+$'

export const TITLE_MAX_LENGTH = 500
export const DEFAULT_TITLE = 'New Conversation'

/** A question to the council: not blank, at most this many characters. */
export const QUESTION_MAX_LENGTH = 32_000

/** The tier a user starts on; USAGE_LIMITS must define it. */
export const DEFAULT_TIER = 'free'

/** An email address, as accounts and profiles keep it (RFC 5321's limit). */
export const EMAIL_MAX_LENGTH = 320

/** An Idempotency-Key header: long enough for a UUID or any client's own scheme. */
export const IDEMPOTENCY_KEY_MAX_LENGTH = 255
