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
 * JSON from the API is never rendered as a page, so it gets only the headers that still act on it:
 * nothing may load, run or frame it and no MIME sniffing (what OWASP's REST Security Cheat Sheet asks
 * of API responses), and same-origin reads. The other nine of helmet's are for documents; Node
 * validates and writes every header of every response (all twelve were ~7% of a list request).
 */
const API_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'cross-origin-resource-policy': 'same-origin'
}

/** Whether a request URL (path and query) is under /api. */
export const isApiUrl = (url: string) => url.startsWith('/api') && (url.length === 4 || url[4] === '/' || url[4] === '?')

/**
 * helmet's headers for this app hold no per-request part (no nonces), so they are computed once at
 * startup and copied onto each reply: @fastify/helmet would build them again for every request.
 */
export default fp(
  async (app) => {
    const pageHeaders = helmetHeaders(helmetOptions)
    app.addHook('onRequest', (request, reply, done) => {
      reply.headers(isApiUrl(request.url) ? API_HEADERS : pageHeaders)
      done()
    })
  },
  { name: 'security' }
)
