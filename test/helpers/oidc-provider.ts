import { type AddressInfo } from 'node:net'
import { createServer } from 'node:http'
import type { Test } from 'tap'

// oidc-provider announces its development-only settings (in-memory storage, its own keys, the dev login
// form) and, on Node 20, that it prefers 22: all expected in a test provider, so kept out of the output.
for (const method of ['info', 'warn'] as const) {
  const original = console[method]
  console[method] = (...args: unknown[]) => {
    if (typeof args[0] !== 'string' || !args[0].startsWith('oidc-provider ')) original(...args)
  }
}
const { default: Provider } = await import('oidc-provider')

export interface TestUser {
  /** What the provider's login form takes as the login; also the `sub`. */
  login: string
  email?: string
  emailVerified?: boolean
  name?: string
}

export interface TestProvider {
  issuer: string
  clientId: string
  clientSecret: string
  /** Users by login: add before they sign in. */
  users: Map<string, TestUser>
  /** Registers the client's redirect URIs (known once the app listens); the provider answers from then on. */
  allowRedirects(uris: string[]): void
}

/**
 * A real OpenID provider (oidc-provider) on 127.0.0.1 with one confidential client, PKCE required, and
 * its development login form (any password): the login names the account.
 */
export async function startOidcProvider(t: Test): Promise<TestProvider> {
  const users = new Map<string, TestUser>()
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const clientId = 'llm-council-test'
  const clientSecret = 'oidc-client-secret-for-tests-0123456789'
  const allowRedirects = (redirectUris: string[]) => {
    const provider = new Provider(issuer, {
      clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: redirectUris, token_endpoint_auth_method: 'client_secret_post' }],
      pkce: { required: () => true },
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
      cookies: { keys: ['oidc-provider-cookie-key-for-tests'] },
      findAccount: async (_ctx, id) => {
        const user: TestUser = users.get(id) ?? { login: id }
        return { accountId: id, claims: async () => ({ sub: id, email: user.email, email_verified: user.emailVerified, name: user.name }) }
      }
    })
    server.removeAllListeners('request')
    server.on('request', provider.callback())
  }
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  )
  return { issuer, clientId, clientSecret, users, allowRedirects }
}
