import type { OutgoingHttpHeaders } from 'node:http'
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { QUESTION_MAX_LENGTH, conversationKey } from '../domain.ts'
import { HttpError, badRequest, notFound } from '../errors.ts'
import { requestSubject } from '../logger.ts'
import type { AskEvent } from '../services/ask.ts'
import { IdParams, errorResponses } from './schemas.ts'
// Proxies drop connections that stay silent; a comment line every so often keeps the stream open.
const KEEPALIVE_MS = 15_000

const AskBody = Type.Object(
  { content: Type.String({ maxLength: QUESTION_MAX_LENGTH, description: 'the question' }) },
  { additionalProperties: false }
)
const Json = Type.Unknown()
const CouncilAnswer = Type.Object({ stage1: Json, stage2: Json, stage3: Json, metadata: Json })

const schema = (summary: string, response: object) => ({
  summary,
  params: IdParams,
  body: AskBody,
  response: { ...response, ...errorResponses(400, 401, 404, 409, 429, 502) }
})

function question(content: string): string {
  if (content.trim() === '') throw badRequest('body/content must not be blank')
  return content
}

/** The run's log: every line of it (a model that failed, a refund) says whose question, in which conversation. */
const runLog = (request: FastifyRequest) => request.log.child(requestSubject(request))

const messageRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/conversations/:id/message',
    { schema: schema('Ask the council; answers when all three stages are done', { 200: CouncilAnswer }) },
    async (request) => {
      const run = await app.ask.start(request.userId, conversationKey(request.userId, request.params.id), question(request.body.content), runLog(request))
      const { stage1, stage2, stage3, metadata } = await run.finish()
      return { stage1, stage2, stage3, metadata }
    }
  )

  app.post(
    '/conversations/:id/message/stream',
    {
      schema: schema('Ask the council; Server-Sent Events as each stage completes', {
        200: Type.String({ description: 'text/event-stream of `data: {"type": ...}` events' })
      })
    },
    async (request, reply) => {
      // Everything that can be refused (404, 429) is settled before the stream starts.
      const log = runLog(request)
      const run = await app.ask.start(request.userId, conversationKey(request.userId, request.params.id), question(request.body.content), log)
      reply.hijack()
      const res = reply.raw
      // Hijacked: the headers hooks already set (security, CORS, request id) go out with the stream's.
      res.writeHead(200, {
        ...reply.getHeaders(),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': request.id
      } as OutgoingHttpHeaders)
      const open = () => !res.destroyed && !res.writableEnded
      // One write per event: clients that do not reassemble split events still read each whole.
      const send = (event: AskEvent | { type: 'error'; message: string }) => {
        if (open()) res.write(`data: ${JSON.stringify(event)}\n\n`)
      }
      const keepalive = setInterval(() => open() && res.write(': keep-alive\n\n'), KEEPALIVE_MS)
      try {
        // A client that goes away does not stop the run: the answer is still stored.
        await run.finish(send)
      } catch (error) {
        // An HttpError is meant for the client (deleted meanwhile, no answer, shutting down); anything else is internal.
        if (!(error instanceof HttpError)) log.error({ err: error }, 'council run failed')
        send({ type: 'error', message: error instanceof HttpError ? error.message : 'Internal Server Error' })
      } finally {
        clearInterval(keepalive)
        if (open()) res.end()
      }
    }
  )

  app.post(
    '/conversations/:id/follow-up',
    {
      schema: {
        summary: "Send the council facts or answers without a run; they are part of the next question's context",
        params: IdParams,
        body: AskBody,
        response: {
          200: Type.Object({ role: Type.Literal('user'), kind: Type.Literal('follow_up'), content: Type.String(), position: Type.Integer() }),
          ...errorResponses(400, 401, 404, 409)
        }
      }
    },
    async (request) => {
      const content = question(request.body.content)
      const position = await app.repos.messages.appendFollowUp(request.userId, conversationKey(request.userId, request.params.id), content, app.ask.leaseMs)
      if (position === null) throw notFound('conversation not found')
      if (position === 'busy') throw new HttpError(409, 'the council is answering a question in this conversation; send this when it has answered')
      return { role: 'user' as const, kind: 'follow_up' as const, content, position }
    }
  )

  app.post(
    '/conversations/:id/messages/:position/retry',
    {
      schema: {
        summary: 'Run again what failed in a failed or degraded answer, and update it in place',
        params: Type.Composite([IdParams, Type.Object({ position: Type.Integer({ minimum: 0, maximum: 2_147_483_647 }) })], { additionalProperties: false }),
        response: { 200: CouncilAnswer, ...errorResponses(400, 401, 404, 409, 429, 502) }
      }
    },
    async (request) => {
      const { stage1, stage2, stage3, metadata } = await app.ask.retry(
        request.userId,
        conversationKey(request.userId, request.params.id),
        request.params.position,
        runLog(request)
      )
      return { stage1, stage2, stage3, metadata }
    }
  )

  app.get(
    '/council',
    {
      schema: {
        summary: 'The default council, the presets and the models a conversation may choose',
        response: {
          200: Type.Object({
            council: Type.Array(Type.String()),
            chairman: Type.String(),
            demo: Type.Boolean({ description: 'true when the council is the offline demo: sample answers, no model is asked' }),
            presets: Type.Array(
              Type.Object({
                name: Type.String(),
                models: Type.Array(Type.String()),
                chairman: Type.String(),
                stage2: Type.Boolean(),
                system_prompt: Type.Union([Type.String(), Type.Null()]),
                description: Type.Union([Type.String(), Type.Null()])
              })
            ),
            allowed_models: Type.Array(Type.String()),
            context_chars: Type.Integer({ description: 'COUNCIL_CONTEXT_CHARS: how much of the conversation so far the models see' }),
            min_answers: Type.Integer(),
            exclude_self_votes: Type.Boolean()
          })
        }
      }
    },
    async () => {
      const { llm } = app.config
      return {
        council: llm.councilModels,
        chairman: llm.chairmanModel,
        demo: llm.provider === 'demo',
        presets: [...llm.presets.values()].map(({ name, models, chairman, stage2, systemPrompt, description }) => ({
          name,
          models,
          chairman,
          stage2,
          system_prompt: systemPrompt,
          description
        })),
        allowed_models: llm.allowedModels,
        context_chars: llm.contextChars,
        min_answers: llm.minAnswers,
        exclude_self_votes: llm.excludeSelfVotes
      }
    }
  )
}

export default messageRoutes
