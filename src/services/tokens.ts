import { createHash, randomBytes } from 'node:crypto'

/** SHA-256, hex: how session tokens, API keys and OIDC states are stored and looked up. */
export const tokenHash = (token: string) => createHash('sha256').update(token).digest('hex')

/** A new random token (256 bits) and its hash. */
export function newToken(prefix = ''): { token: string; hash: string } {
  const token = prefix + randomBytes(32).toString('base64url')
  return { token, hash: tokenHash(token) }
}

/** Personal API keys start with this, so they are told from JWTs and recognised by secret scanners. */
export const API_KEY_PREFIX = 'llmc_'
/** The part of a key shown in lists: enough for its owner to tell keys apart, far too little to use. */
export const API_KEY_SHOWN_LENGTH = 12
