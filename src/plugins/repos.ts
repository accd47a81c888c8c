import fp from 'fastify-plugin'
import { ConversationsRepo } from '../repos/conversations.ts'
import { MessagesRepo } from '../repos/messages.ts'
import { UsageRepo } from '../repos/usage.ts'

export interface Repos {
  conversations: ConversationsRepo
  messages: MessagesRepo
  usage: UsageRepo
}

declare module 'fastify' {
  interface FastifyInstance {
    repos: Repos
  }
}

export default fp(
  async (app) => {
    const { db } = app.database
    app.decorate('repos', {
      conversations: new ConversationsRepo(db),
      messages: new MessagesRepo(db),
      usage: new UsageRepo(db, app.config.usageLimits)
    })
  },
  { name: 'repos', dependencies: ['config', 'db'] }
)
