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

export const TITLE_MAX_LENGTH = 500
export const DEFAULT_TITLE = 'New Conversation'

/** A question to the council: not blank, at most this many characters. */
export const QUESTION_MAX_LENGTH = 32_000

/** The tier a user starts on; USAGE_LIMITS must define it. */
export const DEFAULT_TIER = 'free'
