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
    const { db, timer } = app.database
    app.decorate('repos', {
      conversations: new ConversationsRepo(db, timer),
      messages: new MessagesRepo(db, timer),
      usage: new UsageRepo(db, app.config.usageLimits, timer)
    })
  },
  { name: 'repos', dependencies: ['config', 'db'] }
)
