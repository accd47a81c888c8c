import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import { badRequest } from '../errors.ts'
import { MATCHES, decodeSearchCursor } from '../repos/search.ts'
import { errorResponses } from './schemas.ts'

/** The longest query: a question's worth of words is far more than anyone types into a search box. */
export const SEARCH_QUERY_MAX_LENGTH = 500

const SearchQuery = Type.Object(
  {
    q: Type.String({
      minLength: 1,
      maxLength: SEARCH_QUERY_MAX_LENGTH,
      // No control characters (NUL above all, which PostgreSQL text cannot hold).
      pattern: '^[^\\u0000-\\u001f\\u007f]+$',
      description: 'words, "a quoted phrase", -excluded, a or b (web search syntax)'
    }),
    limit: Type.Integer({ minimum: 1, maximum: 50, default: 20 }),
    before: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'the x-next-cursor of the previous page' }))
  },
  { additionalProperties: false }
)

const SearchResult = Type.Object({
  id: Type.String({ format: 'uuid' }),
  title: Type.String(),
  updated_at: Type.String({ format: 'date-time' }),
  starred: Type.Boolean(),
  match: Type.Union(
    MATCHES.map((match) => Type.Literal(match)),
    { description: 'where it matched, best first: the title, a question or final answer, a council member only' }
  ),
  position: Type.Union([Type.Integer(), Type.Null()], { description: 'the message the snippet is from; null for a title' }),
  snippet: Type.Array(Type.Object({ text: Type.String(), mark: Type.Optional(Type.Literal(true)) }), {
    description: 'the passage around the match, in pieces; mark: a matching word'
  })
})

const searchRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { search } = app.repos

  app.get(
    '/search',
    {
      schema: {
        summary: "Full-text search of the caller's conversations: title matches first, then questions and final answers, then council answers",
        querystring: SearchQuery,
        response: { 200: Type.Array(SearchResult), ...errorResponses(400, 401) }
      }
    },
    async (request, reply) => {
      const { q, limit, before } = request.query
      if (q.trim() === '') throw badRequest('querystring/q must not be blank')
      const cursor = before === undefined ? undefined : decodeSearchCursor(before)
      if (cursor === null) throw badRequest('querystring/before is not a cursor this server gave out')
      const page = await search.search(request.userId, q, { limit, before: cursor })
      if (page.nextCursor) reply.header('x-next-cursor', page.nextCursor)
      return page.results
    }
  )
}

export default searchRoutes
