import { randomUUID } from 'node:crypto'
import type { AccountsAuth } from '../config.ts'
import { HttpError, unauthorized } from '../errors.ts'
import { type AccountView, type AccountsRepo, type NewAccount, normalizeEmail } from '../repos/accounts.ts'
import type { SessionsRepo } from '../repos/sessions.ts'
import { hashPassword, temporaryPassword, verifyPassword } from './passwords.ts'
import { newToken } from './tokens.ts'

export const SESSION_TTL_SECONDS = 30 * 24 * 3600

/**
 * Failed sign-ins allowed per window of SIGN_IN_WINDOW_SECONDS. Per account and address together, few:
 * guessing from one place stops quickly. Per account alone, more: many places guessing at once are
 * slowed, while its owner is locked out for at most one window. Per address alone: one place trying
 * many accounts.
 */
export const SIGN_IN_LIMITS = { accountAndAddress: 5, account: 50, address: 100 }
export const SIGN_IN_WINDOW_SECONDS = 15 * 60

const WRONG_CREDENTIALS = 'wrong email or password'

/** A new session for the account: the cookie's token (never stored) and the account. */
export interface SignedIn {
  account: AccountView
  token: string
  tokenHash: string
}

const forbidden = (message: string, code?: string) => new HttpError(403, message, code ? { body: { code } } : {})
const conflict = (message: string) => new HttpError(409, message)

/** Sign-up, sign-in, sessions and passwords for AUTH_MODE=accounts (and the accounts single sign-on makes). */
export class AccountService {
  #accounts: AccountsRepo
  #sessions: SessionsRepo
  #auth: AccountsAuth

  constructor(repos: { accounts: AccountsRepo; sessions: SessionsRepo }, auth: AccountsAuth) {
    this.#accounts = repos.accounts
    this.#sessions = repos.sessions
    this.#auth = auth
  }

  /** Whether a visitor may make an account now: always for the first (the admin), then as SIGNUP says. */
  async signUpOpen(): Promise<boolean> {
    return this.#auth.signup === 'open' || !(await this.#accounts.any())
  }

  /**
   * Makes an account for someone signing up (null: the email has one), or 'closed'. With SIGNUP other
   * than open only the first account may sign up: checked first, and again under the account lock, so
   * that sign-ups racing on an empty server make one account, the admin.
   */
  async createForSignUp(account: NewAccount | (() => Promise<NewAccount>)): Promise<AccountView | null | 'closed'> {
    if (!(await this.signUpOpen())) return 'closed'
    return this.#accounts.create(typeof account === 'function' ? await account() : account, { onlyIfFirst: this.#auth.signup !== 'open' })
  }

  async signUp(email: string, password: string): Promise<SignedIn> {
    if (this.#auth.mode !== 'accounts') throw forbidden('sign-up with a password is off: sign in with single sign-on')
    // The password is hashed (the slow part) only once sign-up is known to be open.
    const account = await this.createForSignUp(async () => ({ userId: randomUUID(), email: normalizeEmail(email), passwordHash: await hashPassword(password) }))
    if (account === 'closed') throw forbidden(this.#auth.signup === 'invite' ? 'sign-up is by invitation: ask an admin for an account' : 'sign-up is closed')
    if (!account) throw conflict('an account with this email exists: sign in instead')
    return this.startSession(account)
  }

  /**
   * Wrong password, unknown email and disabled account give the same 401, after the same work (an
   * unknown email is checked against a decoy hash). Throttled callers get 429 before any check.
   */
  async signIn(email: string, password: string, address: string): Promise<SignedIn> {
    if (this.#auth.mode !== 'accounts') throw forbidden('sign-in with a password is off: sign in with single sign-on')
    const normalized = normalizeEmail(email)
    const keys = {
      accountAndAddress: `account+address:${normalized}|${address}`,
      account: `account:${normalized}`,
      address: `address:${address}`
    }
    const wait = await this.#sessions.throttled(Object.entries(keys).map(([kind, key]) => ({ key, limit: SIGN_IN_LIMITS[kind as keyof typeof keys] })))
    if (wait > 0) {
      throw new HttpError(429, `too many failed sign-ins: try again in ${Math.ceil(wait / 60)} minute(s)`, { headers: { 'retry-after': String(wait) } })
    }
    const credentials = await this.#accounts.credentials(normalized)
    const matches = await verifyPassword(password, credentials?.passwordHash ?? null)
    if (!credentials || !matches || credentials.disabled) {
      await this.#sessions.recordFailure(Object.values(keys), SIGN_IN_WINDOW_SECONDS)
      throw unauthorized(WRONG_CREDENTIALS)
    }
    await this.#sessions.clearFailures(keys.accountAndAddress)
    return this.startSession((await this.#accounts.get(credentials.userId))!)
  }

  /** A new session (sign-in rotates: the caller ends the one it came with). */
  async startSession(account: AccountView): Promise<SignedIn> {
    const { token, hash } = newToken()
    await this.#sessions.create(account.user_id, hash, SESSION_TTL_SECONDS)
    await this.#accounts.touch(account.user_id)
    return { account, token, tokenHash: hash }
  }

  /** Changes the caller's password, ends their other sessions and gives this one a new token. */
  async changePassword(userId: string, current: string, next: string, sessionHash: string | undefined): Promise<SignedIn> {
    const stored = await this.#accounts.passwordHash(userId)
    if (!(await verifyPassword(current, stored))) throw forbidden('the current password is wrong')
    await this.#accounts.setPassword(userId, await hashPassword(next), false)
    await this.#sessions.deleteForUser(userId)
    if (sessionHash) await this.#sessions.delete(sessionHash)
    return this.startSession((await this.#accounts.get(userId))!)
  }

  /** An admin's temporary password for `userId` (to be changed at the next sign-in); ends their sessions. */
  async resetPassword(userId: string): Promise<string | null> {
    const password = temporaryPassword()
    if (!(await this.#accounts.setPassword(userId, await hashPassword(password), true))) return null
    await this.#sessions.deleteForUser(userId)
    return password
  }

  /**
   * An account an admin makes for someone: with a temporary password to pass on (accounts), or with
   * none (oidc: the person signs in with single sign-on, and a verified email links to it).
   */
  async invite(email: string): Promise<{ account: AccountView; temporaryPassword: string | null }> {
    if (this.#auth.signup === 'closed') throw forbidden('SIGNUP=closed: no new accounts')
    const password = this.#auth.mode === 'accounts' ? temporaryPassword() : null
    const account = await this.#accounts.create({
      userId: randomUUID(),
      email: normalizeEmail(email),
      passwordHash: password && (await hashPassword(password)),
      mustChangePassword: password !== null
    })
    if (!account) throw conflict('an account with this email exists')
    return { account, temporaryPassword: password }
  }

  /** Disables or enables an account; disabling ends its sessions at once (its API keys stop working too). */
  async setDisabled(userId: string, disabled: boolean): Promise<AccountView | null> {
    const account = await this.#accounts.update(userId, { disabled })
    if (account && disabled) await this.#sessions.deleteForUser(userId)
    return account
  }
}
