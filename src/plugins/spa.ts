import { basename, dirname, extname, join } from 'node:path'
import fastifyStatic from '@fastify/static'
import fp from 'fastify-plugin'
import { notFound } from '../errors.ts'
import { isApiUrl } from './security.ts'

export const PUBLIC_DIR = join(import.meta.dirname, '../../public')
const MODULES = join(import.meta.dirname, '../../node_modules')

// The page's two libraries, served from the installed packages as ES modules (no build step).
const VENDOR: Record<string, string> = {
  'marked.js': join(MODULES, 'marked/lib/marked.esm.js'),
  'purify.js': join(MODULES, 'dompurify/dist/purify.es.mjs')
}

/**
 * Serves public/ and the app's client-side routes: a GET or HEAD for a path with no file extension
 * outside /api gets index.html; a missing file with an extension, or anything under /api, is a JSON 404.
 */
export default fp(
  async (app) => {
    await app.register(fastifyStatic, {
      root: PUBLIC_DIR,
      cacheControl: false,
      setHeaders(res, path) {
        res.setHeader('cache-control', basename(path) === 'index.html' ? 'no-cache' : 'public, max-age=3600')
      }
    })

    for (const [name, file] of Object.entries(VENDOR)) {
      app.get(`/vendor/${name}`, (_request, reply) =>
        reply.header('cache-control', 'public, max-age=86400').sendFile(basename(file), dirname(file))
      )
    }

    app.setNotFoundHandler((request, reply) => {
      const path = request.url.split('?')[0] ?? '/'
      if (!isApiUrl(path) && (request.method === 'GET' || request.method === 'HEAD') && extname(path) === '') {
        return reply.header('cache-control', 'no-cache').sendFile('index.html')
      }
      throw notFound(`Route ${request.method} ${path} not found`)
    })
  },
  { name: 'spa', dependencies: ['errors'] }
)
