import fp from 'fastify-plugin'
import { type LlmClient, OpenAiClient } from '../council/client.ts'
import { DemoClient } from '../council/demo.ts'
import { AskService } from '../services/ask.ts'

declare module 'fastify' {
  interface FastifyInstance {
    llmClient: LlmClient
    ask: AskService
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
    const ask = new AskService({ ...app.repos, client, llm })
    app.decorate('ask', ask)
    // preClose runs as soon as shutdown starts: no new questions, running ones get the grace period.
    app.addHook('preClose', async () => ask.drain(app.config.shutdownGraceMs, app.log))
  },
  { name: 'services', dependencies: ['config', 'repos'] }
)
