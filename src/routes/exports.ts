import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import contentDisposition from 'content-disposition'
import { conversationKey } from '../domain.ts'
import { notFound } from '../errors.ts'
import type { ExportConversation } from '../repos/transfer.ts'
import { conversationMarkdown, councilFile } from '../services/conversation-export.ts'
import { IdParams, errorResponses } from './schemas.ts'

const FORMATS = {
  md: { type: 'text/markdown; charset=utf-8', extension: 'md' },
  json: { type: 'application/json; charset=utf-8', extension: 'json' }
} as const

/** A file name from a title: what no common file system refuses, at most 100 characters. */
export function fileName(title: string, extension: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what it removes
  const base = [...title.replace(/[\u0000-\u001f\u007f/\\:*?"<>|]+/g, ' ').replace(/\s+/g, ' ').trim().replace(/^\.+/, '')].slice(0, 100).join('').trim()
  return `${base || 'conversation'}.${extension}`
}

const exportRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { conversations } = app.repos

  app.get(
    '/conversations/:id/export',
    {
      schema: {
        summary: "Download a conversation: Markdown (the final answers first, then the council's answers and rankings) or llm-council's JSON file",
        params: IdParams,
        querystring: Type.Object(
          { format: Type.Union([Type.Literal('md'), Type.Literal('json')], { default: 'md' }) },
          { additionalProperties: false }
        ),
        response: { 200: Type.String({ description: 'the file, as an attachment' }), ...errorResponses(400, 401, 404) }
      }
    },
    async (request, reply) => {
      const json = await conversations.getJson(request.userId, conversationKey(request.userId, request.params.id))
      if (json === null) throw notFound('conversation not found')
      const { run: _, council: __, message_count: ___, ...stored } = JSON.parse(json)
      const conversation: ExportConversation = { ...stored, user_id: request.userId }
      const format = FORMATS[request.query.format]
      const body = request.query.format === 'md' ? conversationMarkdown(conversation) : `${JSON.stringify(councilFile(conversation), null, 2)}\n`
      return reply
        .type(format.type)
        .header('content-disposition', contentDisposition(fileName(conversation.title, format.extension)))
        .header('cache-control', 'no-store')
        .send(body)
    }
  )
}

export default exportRoutes
