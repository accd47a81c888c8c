import cors from '@fastify/cors'
import rateLimit from '@fastify/rate-limit'
import underPressure from '@fastify/under-pressure'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { HttpError } from '../errors.ts'

const SHED_RETRY_AFTER_S = 10

/**
 * What a server facing the internet needs besides the routes: 503s while the event loop is saturated,
 * and CORS for the origins allowed. (The API's per-IP rate limit is `apiRateLimit`, in the API's scope.)
 */
export default fp(
  async (app) => {
    const { config } = app
    if (config.corsOrigins.length > 0) {
      await app.register(cors, {
        origin: config.corsOrigins,
        methods: ['GET', 'HEAD', 'POST', 'PATCH', 'PUT', 'DELETE'],
        allowedHeaders: ['authorization', 'content-type', 'x-request-id'],
        exposedHeaders: ['x-next-cursor', 'x-request-id', 'retry-after'],
        maxAge: 600
      })
    }

    // The embedded database runs on the event loop itself: its queries are the "delay", so shedding
    // load there would refuse the very work the loop is busy with. PostgreSQL only.
    if (config.maxEventLoopDelayMs > 0 && app.database.backend === 'postgres') {
      await app.register(underPressure, {
        maxEventLoopDelay: config.maxEventLoopDelayMs,
        sampleInterval: Math.min(1000, Math.max(5, Math.floor(config.maxEventLoopDelayMs / 2))),
        // The handler answers in the API's error shape; under-pressure's own retryAfter is for its default one.
        pressureHandler: () => {
          throw new HttpError(503, 'server under pressure, try again shortly', { headers: { 'retry-after': String(SHED_RETRY_AFTER_S) } })
        }
      })
    }
  },
  { name: 'hardening', dependencies: ['config', 'errors', 'db'] }
)

/**
 * Per-IP rate limiting (RATE_LIMIT_MAX a minute), registered in the API's scope: health checks and the
 * app's files are never limited. Which scope a request belongs to is decided by the router on the
 * decoded path, so `/%61pi/...` and `GET http://host/api/...` are API requests too. The limit is a
 * hook of the scope itself, not of each route, so it runs before authentication: requests with bad
 * credentials count as well.
 */
export async function apiRateLimit(api: FastifyInstance): Promise<void> {
  if (api.config.rateLimitMax === 0) return
  await api.register(rateLimit, {
    global: false,
    max: api.config.rateLimitMax,
    timeWindow: 60_000,
    // No `usage` key: clients tell this per-IP limit from their own allowance.
    errorResponseBuilder: (_request, context) =>
      new HttpError(429, `rate limit exceeded: at most ${context.max} API requests a minute; retry in ${context.after}`)
  })
  api.addHook('onRequest', api.rateLimit())
}
