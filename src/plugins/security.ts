import helmet from '@fastify/helmet'
import fp from 'fastify-plugin'

/**
 * Security headers on every response, with a content security policy the app keeps: its scripts,
 * styles and requests are all same-origin files (no inline script), and model output, rendered as
 * sanitised markdown, can load images from https only.
 */
export default fp(
  async (app) => {
    await app.register(helmet, {
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
    })
  },
  { name: 'security' }
)
