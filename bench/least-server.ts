// The least server this stack allows: bare Fastify and postgres.js, running the repositories' own statements
// (prepared, with the server's connection settings) and sending the bytes the database built. No auth,
// validation, hooks or logging: what is left of the app's time above this is the price of those.
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'
import { tuneHeapGrowth } from '../src/heap-tuning.ts'
import { type PoolOptions, postgresClient } from '../src/db/client.ts'

interface Setup {
  url: string
  pool: PoolOptions
  statements: Record<string, { text: string; params: unknown[] }>
}

const setup = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Setup
const client = postgresClient(setup.url, setup.pool)
// The same garbage-collector setting as the server's, so that the difference is the app's work.
tuneHeapGrowth()
const app = Fastify({ logger: false })
for (const [path, { text, params }] of Object.entries(setup.statements)) {
  app.get(path, async (_request, reply) => {
    const [row] = await client.unsafe(text, params as never[], { prepare: true }).raw()
    return reply.header('content-type', 'application/json; charset=utf-8').send((row as unknown as Buffer[])[0])
  })
}
app.addHook('onClose', () => client.end())
const address = await app.listen({ port: 0, host: '127.0.0.1' })
process.stdout.write(`listening ${address}\n`)
