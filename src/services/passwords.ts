import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number, options: object) => Promise<Buffer>

export const PASSWORD_MIN_LENGTH = 10
// A ceiling, so a megabyte of "password" cannot make each sign-in attempt expensive.
export const PASSWORD_MAX_LENGTH = 1024

// OWASP's Password Storage Cheat Sheet: scrypt with N=2^17, r=8, p=1 (128 MiB per hash) is its first
// choice; N=2^15 (32 MiB) keeps a sign-in near 100 ms and a burst of them within a small server's memory.
const COST = { N: 2 ** 15, r: 8, p: 1 }
const KEY_BYTES = 32
const maxmem = (params: typeof COST) => 256 * params.N * params.r

/** `scrypt$N$r$p$<salt>$<hash>` (base64url), with a fresh 16-byte salt. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16)
  const hash = await scryptAsync(password.normalize('NFKC'), salt, KEY_BYTES, { ...COST, maxmem: maxmem(COST) })
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64url'), hash.toString('base64url')].join('$')
}

// Checked against when an email has no account (or no password), so that case takes as long as a wrong password.
const DECOY = await hashPassword(randomBytes(16).toString('hex'))

/** Whether `password` matches `stored`, in constant time; `stored` null (no such account) is checked against a decoy. */
export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = (stored ?? DECOY).split('$')
  if (scheme !== 'scrypt' || !salt || !hash) return false
  const params = { N: Number(n), r: Number(r), p: Number(p) }
  const expected = Buffer.from(hash, 'base64url')
  const actual = await scryptAsync(password.normalize('NFKC'), Buffer.from(salt, 'base64url'), expected.length, { ...params, maxmem: maxmem(params) })
  return timingSafeEqual(actual, expected) && stored !== null
}

/** A temporary password an admin passes on: 16 characters from an alphabet without look-alikes. */
export function temporaryPassword(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789'
  // 256 is not a multiple of 55: skip bytes past the last whole multiple, so every letter is equally likely.
  const limit = 256 - (256 % alphabet.length)
  let out = ''
  while (out.length < 16) for (const byte of randomBytes(32)) if (byte < limit && out.length < 16) out += alphabet[byte % alphabet.length]
  return out
}
