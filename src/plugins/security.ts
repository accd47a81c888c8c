import type { FastifyHelmetOptions } from '@fastify/helmet'
import type { onRequestHookHandler } from 'fastify'

/**
 * The app's pages and files (through @fastify/helmet): a content security policy the app keeps. Its
 * scripts, styles and requests are all same-origin files (no inline script), and model output, rendered
 * as sanitised markdown, can load images from https only.
 */
export const pageHelmetOptions: FastifyHelmetOptions = {
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

/**
 * JSON from the API is never rendered as a page, so it gets only the headers that act on it, which
 * OWASP's REST Security Cheat Sheet asks of API responses: nothing may load, run or frame it, and no
 * MIME sniffing; same-origin reads are the app's own choice. The rest of helmet's are for documents.
 */
export const API_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'cross-origin-resource-policy': 'same-origin'
}

/** The API's headers, for the scopes that answer JSON (`/api`, the health checks). */
export const apiHeaders: onRequestHookHandler = (_request, reply, done) => {
  reply.headers(API_HEADERS)
  done()
}
