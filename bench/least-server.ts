// The least server this stack allows: bare Fastify and postgres.js, running the repositories' own statements
// (prepared, with the server's connection settings) and making the same JSON from their rows with the least
// code. No auth, validation, hooks, logging or ORM: what is left of the app's time above this is their price.
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'
import { type PoolOptions, postgresClient } from '../src/db/client.ts'

interface Statement {
  text: string
  params: unknown[]
}

interface Setup {
  url: string
  pool: PoolOptions
  /** The list statement, and the names of its columns (drizzle reads rows by position). */
  list: Statement & { fields: string[] }
  /** The get's two statements: the conversation's columns, then each message's JSON. */
  get: { conversation: Statement & { fields: string[] }; messages: Statement }
}

const setup = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Setup
const client = postgresClient(setup.url, setup.pool)
const run = ({ text, params }: Statement) => client.unsafe(text, params as never[], { prepare: true }).values()
const record = (fields: string[], values: unknown[]) => Object.fromEntries(fields.map((field, i) => [field, values[i]]))

const app = Fastify({ logger: false })
app.get('/list', async (_request, reply) => {
  const rows = await run(setup.list)
  return reply.header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(rows.slice(0, 50).map((row) => record(setup.list.fields, row))))
})
app.get('/get', async (_request, reply) => {
  const [[conversation], messages] = await Promise.all([run(setup.get.conversation), run(setup.get.messages)])
  const head = JSON.stringify(record(setup.get.conversation.fields, conversation!)).slice(0, -1)
  return reply.header('content-type', 'application/json; charset=utf-8').send(`${head},"messages":[${messages.map((row) => row[0]).join(',')}]}`)
})
app.addHook('onClose', () => client.end())
const address = await app.listen({ port: 0, host: '127.0.0.1' })
process.stdout.write(`listening ${address}\n`)
