import { basename, dirname, extname, join } from 'node:path'
import helmet from '@fastify/helmet'
import fastifyStatic from '@fastify/static'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { notFound } from '../errors.ts'
import { isSharedToken } from '../routes/shares.ts'
import { pageHelmetOptions } from './security.ts'

export const PUBLIC_DIR = join(import.meta.dirname, '../../public')
const MODULES = join(import.meta.dirname, '../../node_modules')

// The page's two libraries, served from the installed packages as ES modules (no build step).
const VENDOR: Record<string, string> = {
  'marked.js': join(MODULES, 'marked/lib/marked.esm.js'),
  'purify.js': join(MODULES, 'dompurify/dist/purify.es.mjs')
}

/**
 * Everything that is not the API, with helmet's headers: public/, the API docs (Swagger UI at /docs),
 * and the app's client-side routes: a GET or HEAD for a path with no file extension gets index.html;
 * a missing file with an extension is a JSON 404. Encapsulated, so the API keeps its own headers.
 */
export default async function spa(app: FastifyInstance): Promise<void> {
  await app.register(helmet, pageHelmetOptions)
  await app.register(fastifyStatic, {
    root: PUBLIC_DIR,
    // A route per file (public/ is fixed for the server's life): any other path is a 404, whose
    // handler below (or the API's, under /api) decides what it is.
    wildcard: false,
    cacheControl: false,
    setHeaders(res, path) {
      res.setHeader('cache-control', basename(path) === 'index.html' ? 'no-cache' : 'public, max-age=3600')
    }
  })
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true })

  for (const [name, file] of Object.entries(VENDOR)) {
    app.get(`/vendor/${name}`, (_request, reply) =>
      reply.header('cache-control', 'public, max-age=86400').sendFile(basename(file), dirname(file))
    )
  }

  // A shared conversation's page: a 404 once its link is revoked (the page then says so). Kept out of
  // search engines, and its address (which holds the token) out of Referer headers.
  app.get<{ Params: { token: string } }>('/s/:token', async (request, reply) => {
    const shared = await isSharedToken(app, request.params.token)
    return reply
      .code(shared ? 200 : 404)
      .header('x-robots-tag', 'noindex, nofollow')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-store')
      .sendFile('shared.html')
  })

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/'
    if ((request.method === 'GET' || request.method === 'HEAD') && extname(path) === '') {
      return reply.header('cache-control', 'no-cache').sendFile('index.html')
    }
    throw notFound(`Route ${request.method} ${path} not found`)
  })
}
