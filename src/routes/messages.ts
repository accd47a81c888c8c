import { createHash } from 'node:crypto'
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { IDEMPOTENCY_KEY_MAX_LENGTH, QUESTION_MAX_LENGTH, conversationKey } from '../domain.ts'
import { HttpError, badRequest, notFound } from '../errors.ts'
import { requestSubject } from '../logger.ts'
import type { RunHandle } from '../services/ask.ts'
import { clientGone, streamRun } from './runs.ts'
import { IdParams, errorResponses } from './schemas.ts'

const AskBody = Type.Object(
  { content: Type.String({ maxLength: QUESTION_MAX_LENGTH, description: 'the question' }) },
  { additionalProperties: false }
)
const AskHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: IDEMPOTENCY_KEY_MAX_LENGTH,
      pattern: '^[\\x21-\\x7e]+$',
      description: 'a key of your own for this question: the same key and body again joins the same run (nothing more is charged); another body is a 422'
    })
  )
})
const Json = Type.Unknown()
const CouncilAnswer = Type.Object({ stage1: Json, stage2: Json, stage3: Json, metadata: Json })

const schema = (summary: string, response: object) => ({
  summary,
  params: IdParams,
  headers: AskHeaders,
  body: AskBody,
  response: { ...response, ...errorResponses(400, 401, 404, 409, 422, 429, 502, 503) }
})

function question(content: string): string {
  if (content.trim() === '') throw badRequest('body/content must not be blank')
  return content
}

/** The run's log: every line of it (a model that failed, a refund) says whose question, in which conversation. */
const runLog = (request: FastifyRequest) => request.log.child(requestSubject(request))

const messageRoutes: FastifyPluginAsyncTypebox = async (app) => {
  /** Starts the run a question asks for, or joins the one its Idempotency-Key started. */
  const start = (request: FastifyRequest, id: string, body: { content: string }, key: string | undefined): Promise<RunHandle> => {
    const content = question(body.content)
    const idempotency = key === undefined ? undefined : { key, hash: createHash('sha256').update(content).digest('hex') }
    return app.ask.start(request.userId, conversationKey(request.userId, id), content, runLog(request), idempotency)
  }

  app.post(
    '/conversations/:id/message',
    { schema: schema('Ask the council; answers when all three stages are done (the run\'s id is in x-run-id)', { 200: CouncilAnswer }) },
    async (request, reply) => {
      const run = await start(request, request.params.id, request.body, request.headers['idempotency-key'])
      reply.header('x-run-id', run.id)
      const { stage1, stage2, stage3, metadata } = await app.ask.result(request.userId, run, clientGone(reply))
      return { stage1, stage2, stage3, metadata }
    }
  )

  app.post(
    '/conversations/:id/message/stream',
    {
      schema: schema('Ask the council; Server-Sent Events as it answers, token by token, the first naming the run', {
        200: Type.String({ description: 'text/event-stream of `data: {"type": ...}` events, each with `id:` its number' })
      })
    },
    async (request, reply) => {
      // Everything that can be refused (404, 409, 422, 429) is settled before the stream starts.
      const run = await start(request, request.params.id, request.body, request.headers['idempotency-key'])
      await streamRun(app, request, reply, run, 0)
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
        response: { 200: CouncilAnswer, ...errorResponses(400, 401, 404, 409, 429, 502, 503) }
      }
    },
    async (request, reply) => {
      const run = await app.ask.retry(request.userId, conversationKey(request.userId, request.params.id), request.params.position, runLog(request))
      reply.header('x-run-id', run.id)
      const { stage1, stage2, stage3, metadata } = await app.ask.result(request.userId, run, clientGone(reply))
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
