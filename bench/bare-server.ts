// The HTTP ceiling: a bare Fastify route serving, from memory, the exact bytes the app answers with.
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'

const bodies = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Record<string, string>
const app = Fastify({ logger: false })
for (const [path, body] of Object.entries(bodies)) {
  app.get(path, (_request, reply) => reply.header('content-type', 'application/json; charset=utf-8').send(body))
}
const address = await app.listen({ port: 0, host: '127.0.0.1' })
process.stdout.write(`listening ${address}\n`)
