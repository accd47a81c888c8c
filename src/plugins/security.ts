import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

/**
 * Security headers on every response, with a content security policy the app keeps: its scripts,
 * styles and requests are all same-origin files (no inline script), and model output, rendered as
 * sanitised markdown, can load images from https only.
 */
const helmetOptions: HelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:', 'https:'],
      connectSrc: ["'self'"],
      fontSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"]
    }
  },
  // The API is called by the page itself; other origins are for CORS_ORIGINS to allow.
  crossOriginResourcePolicy: { policy: 'same-origin' }
}

/** The headers helmet's middleware sets for `options`, by running it once against a recording response. */
function helmetHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  const response = {
    setHeader: (name: string, value: unknown) => (headers[name.toLowerCase()] = String(value)),
    removeHeader: (name: string) => delete headers[name.toLowerCase()]
  }
  helmet(options)({} as never, response as never, (error?: unknown) => {
    if (error) throw error
  })
  return headers
}

/**
 * helmet's headers for this app hold no per-request part (no nonces), so they are computed once at
 * startup and copied onto each reply: @fastify/helmet would build them again for every request.
 */
export default fp(
  async (app) => {
    const headers = helmetHeaders(helmetOptions)
    app.addHook('onRequest', (_request, reply, done) => {
      reply.headers(headers)
      done()
    })
  },
  { name: 'security' }
)
