import fp from 'fastify-plugin'
import { ConversationsRepo } from '../repos/conversations.ts'
import { MessagesRepo } from '../repos/messages.ts'

export interface Repos {
  conversations: ConversationsRepo
  messages: MessagesRepo
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
      messages: new MessagesRepo(db)
    })
  },
  { name: 'repos', dependencies: ['db'] }
)
