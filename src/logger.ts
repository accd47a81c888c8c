import { DrizzleQueryError } from 'drizzle-orm/errors'
import { type FastifyReply, type FastifyRequest, type FastifyServerOptions, LogController } from 'fastify'
import pino from 'pino'
import type { Config } from './config.ts'
import { errorCode } from './db/errors.ts'

/** Redacted wherever they appear in a log line: credentials and tokens. */
const REDACT_PATHS = ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]']

/**
 * pino's error serializer, except for a failed query: drizzle puts the statement's parameters (users'
 * questions and answers) in the message and on the error, and those are never logged. The statement's
 * text, the SQLSTATE and the driver's message stay.
 */
export function serializeError(error: Error): { type: string; message: string; stack: string; [key: string]: unknown } {
  const serialized = pino.stdSerializers.err(error)
  if (!(error instanceof DrizzleQueryError)) return serialized
  const cause = error.cause as { message?: unknown } | undefined
  const message = `Failed query: ${error.query}${cause?.message ? `: ${String(cause.message)}` : ''}`
  return {
    type: serialized.type,
    message,
    code: errorCode(error),
    stack: `${error.name}: ${message}\n${(error.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line)).join('\n')}`
  }
}

/** Fastify's logger: JSON lines to stdout (pino's default destination), or to `stream` (tests). */
export function loggerOptions(config: Config, stream?: pino.DestinationStream): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError },
    ...(stream ? { stream } : {})
  }
}

/** Who and what a request was about, for its log lines: the user and, on a conversation's routes, its id. */
export function requestSubject(request: FastifyRequest): { userId?: string; conversationId?: string } {
  const params = request.params as { id?: unknown } | undefined
  const conversationId = request.routeOptions.url?.startsWith('/api/conversations/:id') && typeof params?.id === 'string' ? params.id : undefined
  return { userId: request.userId || undefined, conversationId }
}

/**
 * Fastify's request lines (its documented LogController, subclassed): one line per request when it
 * completes, with what an operator needs to tell who got what: method, path (no query string: it can
 * hold users' text), status, time and user. No "incoming request" line.
 */
export class RequestLines extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return
    const fields = {
      method: request.method,
      path: request.url.split('?', 1)[0],
      statusCode: reply.statusCode,
      responseTime: Math.round(reply.elapsedTime * 10) / 10,
      userId: request.userId || undefined
    }
    if (error) reply.log.error({ ...fields, err: error }, 'request errored')
    else reply.log.info(fields, 'request completed')
  }
}
