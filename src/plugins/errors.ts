import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { isDatabaseUnavailable } from '../db/errors.ts'
import { HttpError } from '../errors.ts'
import { requestSubject } from '../logger.ts'

/** One JSON error shape for the whole API: {statusCode, error, message, requestId}. */
export default fp(
  async (app) => {
    app.setErrorHandler((error: FastifyError, request, reply) => {
      let statusCode = error.statusCode ?? 500
      let message = error.message
      if (error.validation) {
        statusCode = 400
        message = `${error.validationContext ?? 'request'}${message.replace(/^(body|params|querystring|headers)/, '')}`
      } else if (isDatabaseUnavailable(error)) {
        statusCode = 503
        message = 'database unavailable, try again shortly'
      }
      if (statusCode >= 500) {
        request.log.error({ err: error, ...requestSubject(request) }, 'request failed')
        if (!(error instanceof HttpError) && statusCode !== 503) message = 'Internal Server Error'
      }
      if (error instanceof HttpError && error.headers) reply.headers(error.headers)
      if (statusCode === 503 && !reply.hasHeader('retry-after')) reply.header('retry-after', '5')
      return sendError(reply, statusCode, message, error.code, error instanceof HttpError ? error.body : undefined)
    })
  },
  { name: 'errors' }
)

function sendError(reply: FastifyReply, statusCode: number, message: string, code?: string, extra?: Record<string, unknown>) {
  return reply
    .code(statusCode)
    .header('x-request-id', reply.request.id)
    .send({
      statusCode,
      error: STATUS_CODES[statusCode] ?? 'Error',
      message,
      requestId: reply.request.id,
      ...(code && statusCode < 500 ? { code } : {}),
      ...extra
    })
}

/**
 * Fastify's `frameworkErrors`: what the router refuses before any route or hook runs (a malformed
 * percent-encoding, a path parameter over `maxParamLength`) gets the same error shape and request id.
 */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const statusCode = error.statusCode ?? 400
  sendError(reply, statusCode, error.message, error.code)
}
