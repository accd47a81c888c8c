import fp from 'fastify-plugin'
import { AccountsRepo } from '../repos/accounts.ts'
import { ApiKeysRepo } from '../repos/api-keys.ts'
import { ConversationsRepo } from '../repos/conversations.ts'
import { MessagesRepo } from '../repos/messages.ts'
import { ProfilesRepo } from '../repos/profiles.ts'
import { RunsRepo } from '../repos/runs.ts'
import { SearchRepo } from '../repos/search.ts'
import { SessionsRepo } from '../repos/sessions.ts'
import { SharesRepo } from '../repos/shares.ts'
import { UsageRepo } from '../repos/usage.ts'

export interface Repos {
  conversations: ConversationsRepo
  messages: MessagesRepo
  usage: UsageRepo
  accounts: AccountsRepo
  sessions: SessionsRepo
  apiKeys: ApiKeysRepo
  profiles: ProfilesRepo
  runs: RunsRepo
  search: SearchRepo
  shares: SharesRepo
}

declare module 'fastify' {
  interface FastifyInstance {
    repos: Repos
  }
}

export default fp(
  async (app) => {
    const { db, timer } = app.database
    app.decorate('repos', {
      conversations: new ConversationsRepo(db, timer),
      messages: new MessagesRepo(db, timer),
      usage: new UsageRepo(db, app.config.usageLimits, timer),
      accounts: new AccountsRepo(db, timer),
      sessions: new SessionsRepo(db, timer),
      apiKeys: new ApiKeysRepo(db, timer),
      profiles: new ProfilesRepo(db, timer),
      runs: new RunsRepo(db, timer),
      search: new SearchRepo(db, app.config.searchLanguage, timer),
      shares: new SharesRepo(db, timer)
    })
  },
  { name: 'repos', dependencies: ['config', 'db'] }
)
