import { type FastifyPluginAsyncTypebox, type Static, Type } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import type { AssistantMetadata } from '../council/types.ts'
import { conversationKey } from '../domain.ts'
import { HttpError, notFound } from '../errors.ts'
import { MAX_SHARES_PER_CONVERSATION, type Share } from '../repos/shares.ts'
import { newToken } from '../services/tokens.ts'
import { IdParams, UserMessage, AssistantMessage, errorResponses } from './schemas.ts'

/** A share token as this server makes them: 256 random bits, base64url. */
export const SHARE_TOKEN_PATTERN = '^[A-Za-z0-9_-]{43}$'
const SHARE_TOKEN = new RegExp(SHARE_TOKEN_PATTERN)

const ShareLink = Type.Object({
  id: Type.String({ format: 'uuid' }),
  url: Type.String({ description: 'the read-only page: anyone with it can read the conversation as it was when shared' }),
  created_at: Type.String({ format: 'date-time' }),
  visibility: Type.Literal('anyone with the link')
})

const SharedConversation = Type.Object({
  title: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  shared_at: Type.String({ format: 'date-time' }),
  messages: Type.Array(Type.Union([UserMessage, AssistantMessage]))
})

const linkNotFound = () => notFound('no such shared link (it may have been revoked, or its conversation deleted)')

// What a reader of a shared answer sees of its metadata: the council's verdict, not the server's
// settings (a preset's system prompt) or what the owner's questions cost.
const PUBLIC_METADATA = ['label_to_model', 'aggregate_rankings', 'aggregate_borda', 'agreement', 'status', 'missing', 'chairman_fallback'] as const

function publicMetadata(metadata: AssistantMetadata): Partial<AssistantMetadata> {
  return Object.fromEntries(PUBLIC_METADATA.flatMap((key) => (metadata[key] === undefined ? [] : [[key, metadata[key]]])))
}

/** The page a token opens, on the origin the request came to. */
function link(request: FastifyRequest, share: Share) {
  return { id: share.id, url: `${request.protocol}://${request.host}/s/${share.token}`, created_at: share.created_at, visibility: 'anyone with the link' as const }
}

/** Read-only links: made, listed and revoked by the conversation's owner. */
export const shareRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { conversations, shares } = app.repos

  app.post(
    '/conversations/:id/shares',
    {
      schema: {
        summary: 'Share a read-only snapshot of a conversation as it is now: a link anyone who has it can open without signing in',
        params: IdParams,
        response: { 201: ShareLink, ...errorResponses(400, 401, 404, 409) }
      }
    },
    async (request, reply) => {
      const id = conversationKey(request.userId, request.params.id)
      const json = await conversations.getJson(request.userId, id)
      if (json === null) throw notFound('conversation not found')
      const share = await shares.create(request.userId, id, newToken().token, json)
      if (share === null) throw notFound('conversation not found')
      if (share === 'full') throw new HttpError(409, `a conversation can have at most ${MAX_SHARES_PER_CONVERSATION} links: revoke one first`)
      return reply.code(201).send(link(request, share))
    }
  )

  app.get(
    '/conversations/:id/shares',
    {
      schema: {
        summary: "A conversation's shared links, newest first",
        params: IdParams,
        response: { 200: Type.Array(ShareLink), ...errorResponses(400, 401, 404) }
      }
    },
    async (request) => {
      const list = await shares.list(request.userId, conversationKey(request.userId, request.params.id))
      if (list === null) throw notFound('conversation not found')
      return list.map((share) => link(request, share))
    }
  )

  app.delete(
    '/shares/:shareId',
    {
      schema: {
        summary: 'Revoke a shared link: it stops working at once',
        params: Type.Object({ shareId: Type.String({ format: 'uuid' }) }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...errorResponses(400, 401, 404) }
      }
    },
    async (request, reply) => {
      if (!(await shares.delete(request.userId, request.params.shareId))) throw notFound('no such shared link')
      return reply.code(204).send(null)
    }
  )
}

/** What a link shows, to anyone: no sign-in, nothing to write. */
export const sharedRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { shares } = app.repos

  app.get(
    '/shared/:token',
    {
      schema: {
        summary: 'A shared conversation, as it was when shared (no sign-in)',
        params: Type.Object({ token: Type.String({ maxLength: 100 }) }, { additionalProperties: false }),
        response: { 200: SharedConversation, ...errorResponses(404) }
      }
    },
    async (request, reply) => {
      reply.header('x-robots-tag', 'noindex, nofollow').header('cache-control', 'no-store')
      const snapshot = SHARE_TOKEN.test(request.params.token) ? await shares.snapshot(request.params.token) : null
      if (!snapshot) throw linkNotFound()
      const { title, created_at, messages } = JSON.parse(snapshot.json) as Static<typeof SharedConversation>
      return { title, created_at, shared_at: snapshot.shared_at, messages: messages.map((m) => (m.role === 'assistant' && m.metadata ? { ...m, metadata: publicMetadata(m.metadata as AssistantMetadata) } : m)) }
    }
  )
}

/** Whether `token` opens a shared conversation (the page's 200 or 404). */
export async function isSharedToken(app: { repos: { shares: { exists(token: string): Promise<boolean> } } }, token: string): Promise<boolean> {
  return SHARE_TOKEN.test(token) && app.repos.shares.exists(token)
}
