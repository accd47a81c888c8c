import { STATUS_CODES } from 'node:http'
import type { FastifyError } from 'fastify'
import fp from 'fastify-plugin'
import { isUnreachable } from '../db/connect.ts'
import { HttpError } from '../errors.ts'

// Connection-level failures from the driver or the server: the database is away, not the request bad.
const UNAVAILABLE_SQLSTATE = /^(08|57P0[1-3]|53300)/

export function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return isUnreachable(error) || (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || code === 'CONNECTION_CLOSED' || code === 'CONNECTION_ENDED' || code === 'CONNECTION_DESTROYED'))
}

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
        request.log.error({ err: error }, 'request failed')
        if (!(error instanceof HttpError) && statusCode !== 503) message = 'Internal Server Error'
      }
      if (error instanceof HttpError && error.headers) reply.headers(error.headers)
      if (statusCode === 503) reply.header('retry-after', '5')
      return reply.code(statusCode).send({
        statusCode,
        error: STATUS_CODES[statusCode] ?? 'Error',
        message,
        requestId: request.id,
        ...(error.code && statusCode < 500 ? { code: error.code } : {}),
        ...(error instanceof HttpError ? error.body : {})
      })
    })
  },
  { name: 'errors' }
)
