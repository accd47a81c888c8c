import swagger from '@fastify/swagger'
import fp from 'fastify-plugin'

/** The OpenAPI 3 document, generated from the route schemas (served with Swagger UI at /docs by the SPA plugin). */
export default fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        info: {
          title: 'LLM Council server',
          description: 'Conversations, the council (three stages), usage limits. Errors are {statusCode, error, message, requestId}.',
          version: '0.1.0'
        },
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer', description: 'AUTH_MODE=jwt (a JWT) or the ADMIN_TOKEN for /api/admin' }
          }
        }
      },
      // Serve-only routes (static files, vendor modules) are not part of the API.
      hideUntagged: false,
      transform: ({ schema, url }) => ({ schema: url.startsWith('/api') || url.endsWith('z') ? schema : { ...schema, hide: true }, url })
    })
  },
  { name: 'docs' }
)
