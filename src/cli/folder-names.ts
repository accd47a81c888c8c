import { createHash } from 'node:crypto'

// File systems limit a name to 255 bytes; a user id of 128 characters, encoded, can be 1,536.
const MAX_NAME_BYTES = 200
const SAFE = /[A-Za-z0-9@+_.-]/

/**
 * A user id as a folder or file name that is safe on every file system and read back by `folderUser`:
 * characters other than letters, digits and `@+_.-` percent-encoded as UTF-8 (and a leading dot, so
 * no name is hidden, `.` or `..`). A name that would pass 200 bytes keeps its start and ends in `~`
 * and a hash of the id: that one cannot be decoded, and need not be, since every file written inside
 * it carries its `user_id`.
 */
export function userFolder(userId: string): string {
  let name = ''
  for (const char of userId) {
    name += SAFE.test(char) ? char : [...Buffer.from(char)].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('')
  }
  if (name.startsWith('.')) name = `%2E${name.slice(1)}`
  if (name.length <= MAX_NAME_BYTES) return name
  const hash = createHash('sha256').update(userId).digest('hex').slice(0, 16)
  return `${name.slice(0, MAX_NAME_BYTES - 17).replace(/%[0-9A-F]?$/, '')}~${hash}`
}

/** The user id a folder name stands for: percent-decoded where it was encoded (a hashed long name stays as it is). */
export function folderUser(name: string): string {
  if (!name.includes('%') || /~[0-9a-f]{16}$/.test(name)) return name
  try {
    return decodeURIComponent(name)
  } catch {
    return name
  }
}
