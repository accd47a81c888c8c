import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import { TITLE_MAX_LENGTH, conversationKey } from '../domain.ts'
import { badRequest, notFound } from '../errors.ts'
import { decodeCursor } from '../repos/cursor.ts'
import { checkChoice } from '../services/council-settings.ts'
import { ChosenCouncil, Conversation, ConversationMeta, ConversationWithCouncil, IdParams, errorResponses } from './schemas.ts'

const ListQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
    before: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'the x-next-cursor of the previous page' })),
    starred: Type.Optional(Type.Boolean())
  },
  { additionalProperties: false }
)

const CreateBody = Type.Object(
  { council: Type.Optional(ChosenCouncil) },
  { additionalProperties: false, description: "no body, or {}, or {council}: the preset or models this conversation's questions go to" }
)
const TitleBody = Type.Object({ title: Type.String({ maxLength: TITLE_MAX_LENGTH }) }, { additionalProperties: false })

const conversationNotFound = () => notFound('conversation not found')

const conversationRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { conversations } = app.repos

  app.get(
    '/conversations',
    {
      schema: {
        summary: "The caller's conversations, most recently active first",
        querystring: ListQuery,
        response: { 200: Type.Array(ConversationMeta), ...errorResponses(400, 401) }
      }
    },
    async (request, reply) => {
      const { limit, before, starred } = request.query
      const cursor = before === undefined ? undefined : decodeCursor(before)
      if (cursor === null) throw badRequest('querystring/before is not a cursor this server gave out')
      const page = await conversations.list(request.userId, { limit, before: cursor, starred })
      if (page.nextCursor) reply.header('x-next-cursor', page.nextCursor)
      return page.conversations
    }
  )

  app.post(
    '/conversations',
    {
      schema: {
        summary: 'Start a new, empty conversation',
        body: CreateBody,
        response: { 200: Conversation, ...errorResponses(400, 401) }
      }
    },
    async (request) => {
      const council = request.body?.council
      const meta = await conversations.create(request.userId, council ? checkChoice(council, app.config.llm, 'body/council') : null)
      return { ...meta, run: null, messages: [] }
    }
  )

  app.patch(
    '/conversations/:id/council',
    {
      schema: {
        summary: "Choose the council for a conversation's next questions ({} for the server's default)",
        params: IdParams,
        body: ChosenCouncil,
        response: { 200: ConversationWithCouncil, ...errorResponses(400, 401, 404) }
      }
    },
    async (request) => {
      const choice = checkChoice(request.body, app.config.llm)
      const empty = Object.keys(choice).length === 0
      const meta = await conversations.setCouncil(request.userId, conversationKey(request.userId, request.params.id), empty ? null : choice)
      if (!meta) throw conversationNotFound()
      return meta
    }
  )

  app.get(
    '/conversations/:id',
    {
      schema: {
        summary: 'A conversation with its messages in order',
        params: IdParams,
        response: { 200: Conversation, ...errorResponses(400, 401, 404) }
      }
    },
    async (request, reply) => {
      // JSON text built by the database: a string with a JSON content type skips serialisation (the
      // schema above still documents the shape).
      const body = await conversations.getJson(request.userId, conversationKey(request.userId, request.params.id))
      if (body === null) throw conversationNotFound()
      return reply.type('application/json; charset=utf-8').send(body as never)
    }
  )

  app.patch(
    '/conversations/:id/title',
    {
      schema: {
        summary: 'Rename a conversation',
        params: IdParams,
        body: TitleBody,
        response: { 200: ConversationMeta, ...errorResponses(400, 401, 404) }
      }
    },
    async (request) => {
      const title = request.body.title.trim()
      if (title === '') throw badRequest('body/title must not be empty')
      const meta = await conversations.rename(request.userId, conversationKey(request.userId, request.params.id), title)
      if (!meta) throw conversationNotFound()
      return meta
    }
  )

  app.post(
    '/conversations/:id/star',
    {
      schema: {
        summary: 'Star or unstar a conversation (toggles)',
        params: IdParams,
        response: { 200: ConversationMeta, ...errorResponses(400, 401, 404) }
      }
    },
    async (request) => {
      const meta = await conversations.toggleStar(request.userId, conversationKey(request.userId, request.params.id))
      if (!meta) throw conversationNotFound()
      return meta
    }
  )

  app.delete(
    '/conversations/:id',
    {
      schema: {
        summary: 'Delete a conversation and its messages',
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(400, 401, 404) }
      }
    },
    async (request, reply) => {
      if (!(await conversations.delete(request.userId, conversationKey(request.userId, request.params.id)))) throw conversationNotFound()
      return reply.code(204).send(null)
    }
  )
}

export default conversationRoutes
