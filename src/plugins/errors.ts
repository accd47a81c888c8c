import { STATUS_CODES } from 'node:http'
import type { FastifyError } from 'fastify'
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
