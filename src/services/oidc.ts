import { randomUUID } from 'node:crypto'
import * as client from 'openid-client'
import type { AccountsAuth, OidcConfig } from '../config.ts'
import { HttpError } from '../errors.ts'
import { type AccountView, type AccountsRepo, normalizeEmail } from '../repos/accounts.ts'
import type { ProfilesRepo } from '../repos/profiles.ts'
import type { SessionsRepo } from '../repos/sessions.ts'
import type { AccountService, SignedIn } from './accounts.ts'
import { tokenHash } from './tokens.ts'

export const CALLBACK_PATH = '/api/auth/oidc/callback'

/** What the sign-in reads from the ID token and userinfo. */
interface Claims {
  iss: string
  sub: string
  email?: unknown
  email_verified?: unknown
  name?: unknown
}

/** A sign-in the provider or the callback refused, in words for the person signing in. */
export class SignInRefused extends HttpError {
  constructor(message: string) {
    super(400, message)
  }
}

/**
 * Single sign-on: the authorization code flow with PKCE and a nonce, through openid-client. The
 * verifier and nonce wait in the database by a hash of `state` (so any instance can finish a login, and
 * each can be finished once); `state` itself also sits in a cookie of the browser that started it, so
 * a callback URL handed to someone else's browser signs nobody in.
 */
export class OidcService {
  #options: OidcConfig
  #auth: AccountsAuth
  #repos: { accounts: AccountsRepo; sessions: SessionsRepo; profiles: ProfilesRepo }
  #accountService: AccountService
  #configuration: Promise<client.Configuration> | undefined

  constructor(auth: AccountsAuth & { oidc: OidcConfig }, repos: { accounts: AccountsRepo; sessions: SessionsRepo; profiles: ProfilesRepo }, accountService: AccountService) {
    this.#options = auth.oidc
    this.#auth = auth
    this.#repos = repos
    this.#accountService = accountService
  }

  /** The provider's configuration, discovered once; a failed discovery is tried again on the next sign-in. */
  #configurationOf(): Promise<client.Configuration> {
    if (!this.#configuration) {
      const { issuer, clientId, clientSecret } = this.#options
      const insecure = new URL(issuer).protocol === 'http:'
      this.#configuration = client
        .discovery(new URL(issuer), clientId, clientSecret ?? undefined, clientSecret ? undefined : client.None(), insecure ? { execute: [client.allowInsecureRequests] } : undefined)
        .catch((error: unknown) => {
          this.#configuration = undefined
          throw new HttpError(502, `the single sign-on provider could not be reached (${(error as Error).message})`)
        })
    }
    return this.#configuration
  }

  redirectUrl(origin: string): string {
    return this.#options.redirectUrl ?? `${origin}${CALLBACK_PATH}`
  }

  /** Where to send the browser, and the `state` to keep in its cookie. */
  async start(origin: string): Promise<{ url: string; state: string }> {
    const configuration = await this.#configurationOf()
    const codeVerifier = client.randomPKCECodeVerifier()
    const state = client.randomState()
    const nonce = client.randomNonce()
    await this.#repos.sessions.saveOidcLogin(tokenHash(state), codeVerifier, nonce)
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: this.redirectUrl(origin),
      scope: 'openid email profile',
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce
    })
    return { url: url.href, state }
  }

  /** Finishes a login: checks state (cookie and stored), PKCE and nonce, then signs the account in. */
  async finish(callbackUrl: URL, cookieState: string | undefined): Promise<SignedIn> {
    const state = callbackUrl.searchParams.get('state')
    if (!state || !cookieState || state !== cookieState) throw new SignInRefused('this sign-in was not started in this browser, or it took too long: try again')
    const login = await this.#repos.sessions.takeOidcLogin(tokenHash(state))
    if (!login) throw new SignInRefused('this sign-in link was already used or has expired: try again')
    const configuration = await this.#configurationOf()
    let claims: Claims
    try {
      const tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
        pkceCodeVerifier: login.codeVerifier,
        expectedState: state,
        expectedNonce: login.nonce,
        idTokenExpected: true
      })
      const idToken = tokens.claims()!
      // Many providers put email and name only in userinfo (OIDC Core 5.4); its `sub` must match the ID token's.
      const userInfo: Partial<client.UserInfoResponse> = configuration.serverMetadata().userinfo_endpoint ? await client.fetchUserInfo(configuration, tokens.access_token, idToken.sub) : {}
      claims = {
        iss: idToken.iss,
        sub: idToken.sub,
        email: userInfo.email ?? idToken.email,
        email_verified: userInfo.email_verified ?? idToken.email_verified,
        name: userInfo.name ?? idToken.name
      }
    } catch (error) {
      throw new SignInRefused(`the single sign-on provider refused the sign-in (${(error as Error).message})`)
    }
    return this.#accountService.startSession(await this.#accountFor(claims))
  }

  /** The account keyed by issuer + subject; else the account with the same email, only when the provider says it is verified; else a new one. */
  async #accountFor(claims: Claims): Promise<AccountView> {
    const { accounts, profiles } = this.#repos
    const issuer = claims.iss
    const subject = claims.sub
    const refused = () => new SignInRefused('this account is disabled: ask an admin')
    const owner = await accounts.identityOwner(issuer, subject)
    if (owner) {
      const account = await accounts.get(owner)
      if (!account || account.disabled) throw refused()
      return account
    }
    const email = typeof claims.email === 'string' && claims.email_verified === true ? normalizeEmail(claims.email) : null
    const byEmail = email ? await accounts.credentials(email) : null
    if (byEmail) {
      if (byEmail.disabled) throw refused()
      await accounts.linkIdentity(issuer, subject, byEmail.userId)
      return (await accounts.get(byEmail.userId))!
    }
    const account = await this.#accountService.createForSignUp({ userId: randomUUID(), email, passwordHash: null, identity: { issuer, subject } })
    if (account === 'closed') {
      throw new SignInRefused(this.#auth.signup === 'invite' ? 'there is no account for you here: ask an admin to invite your email' : 'sign-up is closed')
    }
    if (!account) throw new SignInRefused('an account with this email exists: sign in with its password, then single sign-on links itself once your provider verifies the email')
    if (typeof claims.name === 'string' && claims.name.trim()) await profiles.update(account.user_id, { displayName: claims.name.trim().slice(0, 200) })
    return account
  }
}
