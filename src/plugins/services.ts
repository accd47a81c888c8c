import fp from 'fastify-plugin'
import { type LlmClient, OpenAiClient } from '../council/client.ts'
import { DemoClient } from '../council/demo.ts'
import { AccountService } from '../services/accounts.ts'
import { AskService } from '../services/ask.ts'
import { RunHub } from '../services/run-hub.ts'
import { OidcService } from '../services/oidc.ts'
import { SearchReindexer } from '../services/search-reindex.ts'

declare module 'fastify' {
  interface FastifyInstance {
    llmClient: LlmClient
    ask: AskService
    /** Sign-up, sign-in and passwords: AUTH_MODE=accounts or oidc only. */
    accountService: AccountService | null
    /** Single sign-on, when OIDC_ISSUER is configured. */
    oidc: OidcService | null
  }
}

export interface ServicesOptions {
  /** A client to use instead of the configured provider (tests). */
  llmClient?: LlmClient
}

export default fp<ServicesOptions>(
  async (app, options) => {
    const { llm } = app.config
    const client =
      options.llmClient ??
      (llm.provider === 'demo'
        ? new DemoClient()
        : new OpenAiClient({ baseUrl: llm.baseUrl, apiKey: llm.apiKey, timeoutMs: llm.timeoutMs }))
    app.decorate('llmClient', client)
    const hub: RunHub = new RunHub({
      runs: app.repos.runs,
      listen: app.database.listen,
      log: app.log,
      heartbeatMs: app.config.runHeartbeatMs,
      onStale: (run) => ask.storeInterrupted(run)
    })
    const ask = new AskService({ ...app.repos, hub, client, llm })
    app.decorate('ask', ask)
    hub.start()
    const reindexer = new SearchReindexer(app.repos.search, app.log)
    reindexer.start()
    const { auth } = app.config
    const accountService = auth.mode === 'accounts' || auth.mode === 'oidc' ? new AccountService(app.repos, auth) : null
    app.decorate('accountService', accountService)
    app.decorate('oidc', accountService && 'oidc' in auth && auth.oidc ? new OidcService({ ...auth, oidc: auth.oidc }, app.repos, accountService) : null)
    // preClose runs as soon as shutdown starts: no new questions, running ones get the grace period.
    app.addHook('preClose', async () => {
      await ask.drain(app.config.shutdownGraceMs, app.log)
      await Promise.all([hub.stop(), reindexer.stop()])
    })
  },
  { name: 'services', dependencies: ['config', 'db', 'repos'] }
)
