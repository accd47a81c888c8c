import type { OutgoingHttpHeaders } from 'node:http'
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { progressOf } from '../council/partial.ts'
import { conversationKey } from '../domain.ts'
import { notFound } from '../errors.ts'
import type { RunHandle } from '../services/ask.ts'
import { IdParams, errorResponses } from './schemas.ts'

// Proxies drop connections that stay silent; a comment line every so often keeps the stream open.
const KEEPALIVE_MS = 15_000

/**
 * Streams a run's events after `after` as Server-Sent Events, each with its number as `id:` (what a
 * reconnecting client sends back as Last-Event-ID), until the run's `run_end`. The run goes on
 * whether or not the client stays.
 */
export async function streamRun(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, run: Pick<RunHandle, 'id' | 'conversationId'>, after: number): Promise<void> {
  reply.hijack()
  const res = reply.raw
  // Hijacked: the headers hooks already set (security, CORS, request id) go out with the stream's.
  res.writeHead(200, {
    ...reply.getHeaders(),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-request-id': request.id,
    'x-run-id': run.id
  } as OutgoingHttpHeaders)
  const open = () => !res.destroyed && !res.writableEnded
  const gone = new AbortController()
  res.on('close', () => gone.abort())
  const keepalive = setInterval(() => open() && res.write(': keep-alive\n\n'), KEEPALIVE_MS)
  try {
    // One write per event: clients that do not reassemble split events still read each whole.
    await app.ask.follow(run, after, ({ id, event }) => open() && res.write(`id: ${id}\ndata: ${JSON.stringify(event)}\n\n`), gone.signal)
  } catch (error) {
    request.log.error({ err: error, runId: run.id }, 'could not follow a run')
    if (open()) res.write(`data: ${JSON.stringify({ type: 'error', message: 'Internal Server Error' })}\n\n`)
  } finally {
    clearInterval(keepalive)
    if (open()) res.end()
  }
}

/** Aborts when the client goes away before the reply is sent. */
export function clientGone(reply: FastifyReply): AbortSignal {
  const gone = new AbortController()
  reply.raw.on('close', () => gone.abort())
  return gone.signal
}

const RunParams = Type.Composite([IdParams, Type.Object({ runId: Type.String({ format: 'uuid' }) })], { additionalProperties: false })

const Run = Type.Object({
  id: Type.String({ format: 'uuid' }),
  conversation_id: Type.String({ format: 'uuid' }),
  state: Type.Union(['running', 'complete', 'failed', 'cancelled', 'interrupted'].map((state) => Type.Literal(state))),
  question_position: Type.Integer(),
  answer_position: Type.Union([Type.Integer(), Type.Null()], { description: 'where the answer is stored; null until it is' }),
  started_at: Type.String({ format: 'date-time' }),
  ended_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()])
})

const runRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const find = async (request: FastifyRequest, params: { id: string; runId: string }) => {
    const conversationId = conversationKey(request.userId, params.id)
    const run = await app.repos.runs.get(request.userId, conversationId, params.runId.toLowerCase())
    if (!run) throw notFound('run not found')
    return run
  }

  app.get(
    '/conversations/:id/runs/:runId',
    {
      schema: {
        summary: "A run's state and what it has so far (as stored, a moment behind): finished answers and reviews, and the text being written",
        params: RunParams,
        response: { 200: Type.Composite([Run, Type.Object({ progress: Type.Unknown() })]), ...errorResponses(400, 401, 404) }
      }
    },
    async (request) => {
      const run = await find(request, request.params)
      // From the store, on every instance alike: at most a flush (a quarter of a second) behind the run.
      const events = await app.repos.runs.allEvents(run.id)
      return { ...run, progress: progressOf(events.map((stored) => stored.event)) }
    }
  )

  app.get(
    '/conversations/:id/runs/:runId/events',
    {
      schema: {
        summary: "A run's events as Server-Sent Events, from the start or after Last-Event-ID, live until it ends; on any instance",
        params: RunParams,
        headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })) }),
        response: { 200: Type.String({ description: 'text/event-stream; each event has its number as `id:`' }), ...errorResponses(400, 401, 404) }
      }
    },
    async (request, reply) => {
      const run = await find(request, request.params)
      await streamRun(app, request, reply, { id: run.id, conversationId: run.conversation_id }, Number(request.headers['last-event-id'] ?? 0))
    }
  )

  app.post(
    '/conversations/:id/runs/:runId/cancel',
    {
      schema: {
        summary: 'Stop a run: every model call it has open is aborted, what was finished is kept, and its answer is stored as cancelled',
        params: RunParams,
        response: { 200: Run, ...errorResponses(400, 401, 404) }
      }
    },
    async (request, reply) => {
      const conversationId = conversationKey(request.userId, request.params.id)
      return app.ask.cancel(request.userId, conversationId, request.params.runId.toLowerCase(), clientGone(reply))
    }
  )
}

export default runRoutes
