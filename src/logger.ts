import { DrizzleQueryError } from 'drizzle-orm/errors'
import { type FastifyReply, type FastifyRequest, type FastifyServerOptions, LogController } from 'fastify'
import pino from 'pino'
import type { Config } from './config.ts'
import { errorCode } from './db/errors.ts'

/** Redacted wherever they appear in a log line: credentials and tokens. */
const REDACT_PATHS = ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]']

// Fields a driver error may carry that hold data: the statement's values (drizzle's params, postgres.js's
// parameters and args) or a row's ("Failing row contains (...)" in PostgreSQL's detail).
const DATA_FIELDS = new Set(['params', 'parameters', 'args', 'types', 'detail', 'where', 'internal_query', 'internalQuery', 'query'])
const MAX_CAUSES = 4

/**
 * pino's `err` serializer, built so that no part of a user's data reaches a log line: for any error and
 * each of its causes, the type, the message (for a failed query, the statement's text and the driver's
 * reason, never drizzle's `params:` line), the stack frames, and the scalar fields that describe it
 * (code, severity, constraint...), never the fields that carry values.
 */
type SerializedError = { type: string; message: string; stack: string; [key: string]: unknown }

export function serializeError(error: unknown, depth = 0): SerializedError {
  if (!(error instanceof Error)) return { type: typeof error, message: typeof error === 'string' ? withoutParams(error) : '(not an Error)', stack: '' }
  const message =
    error instanceof DrizzleQueryError
      ? `Failed query: ${error.query}${(error.cause as Error | undefined)?.message ? `: ${withoutParams((error.cause as Error).message)}` : ''}`
      : withoutParams(error.message)
  const serialized: SerializedError = {
    type: error.constructor?.name || error.name,
    message,
    stack: `${error.name}: ${message}\n${(error.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line)).join('\n')}`
  }
  for (const [key, value] of Object.entries(error)) {
    if (DATA_FIELDS.has(key) || key === 'cause' || key === 'message' || key === 'stack') continue
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) serialized[key] = value
  }
  if (error instanceof DrizzleQueryError) serialized.code = errorCode(error)
  else if (error.cause !== undefined && depth < MAX_CAUSES) serialized.cause = serializeError(error.cause, depth + 1)
  return serialized
}

/** A message with drizzle's `params: ...` part cut off, wherever an error carried it on. */
function withoutParams(message: string): string {
  const at = message.indexOf('\nparams:')
  return at === -1 ? message : message.slice(0, at)
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
