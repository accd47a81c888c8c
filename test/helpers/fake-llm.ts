import { type IncomingHttpHeaders, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'

export interface FakeRequest {
  path: string
  headers: IncomingHttpHeaders
  model: string
  messages: { role: string; content: string }[]
}

/** What the fake answers: text (200 with that content), or a status with an error body, after a delay. */
export type FakeReply = string | { status: number; body?: unknown; delayMs?: number; text?: string; usage?: unknown } | { hang: true }

export type FakeHandler = (request: FakeRequest) => FakeReply | Promise<FakeReply>

/** A small OpenAI-compatible chat-completions server on 127.0.0.1 that records what it was asked. */
export async function startFakeLlm(t: Test, handler: FakeHandler) {
  const requests: FakeRequest[] = []
  let current = handler
  const server = createServer(async (req, res) => {
    let raw = ''
    for await (const chunk of req) raw += chunk
    const body = JSON.parse(raw || '{}') as { model: string; messages: FakeRequest['messages'] }
    const request = { path: req.url ?? '', headers: req.headers, model: body.model, messages: body.messages }
    requests.push(request)
    const reply = await current(request)
    if (typeof reply === 'object' && 'hang' in reply) return // never answers; the client must time out
    const delay = typeof reply === 'object' ? (reply.delayMs ?? 0) : 0
    if (delay) await new Promise((resolve) => setTimeout(resolve, delay))
    res.setHeader('content-type', 'application/json')
    if (typeof reply === 'string' || reply.text !== undefined) {
      const content = typeof reply === 'string' ? reply : reply.text
      const usage = typeof reply === 'string' ? undefined : reply.usage
      res.end(JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content } }], usage }))
      return
    }
    res.statusCode = reply.status
    res.end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? { error: { message: `HTTP ${reply.status}` } }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const { port } = server.address() as AddressInfo
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    setHandler(next: FakeHandler) {
      current = next
    }
  }
}

/** The prompt text of a recorded request. */
export const promptOf = (request: FakeRequest) => request.messages.at(-1)?.content ?? ''

// Every reviewer of wellBehaved prefers these answers in this order, whatever labels it is shown them under.
const PREFERENCE = ['m/two', 'm/one', 'm/three']

/** The labels a ranking prompt showed, each with the model whose "Answer from <model>" it holds, in the order shown. */
export function shownAnswers(prompt: string): { label: string; model: string }[] {
  return [...prompt.matchAll(/^(Response [A-Z]):\n(?:Answer from (\S+?)\.?(?:\s|$))?/gm)].map((match) => ({ label: match[1]!, model: match[2] ?? '' }))
}

/**
 * A council that behaves like real models: answers, rankings in the requested format, a synthesis, a
 * title. Its reviewers rank m/two, m/one, m/three (then the rest as shown), under the labels they saw,
 * so the aggregate is the same however each reviewer's answers were shuffled.
 */
export const wellBehaved: FakeHandler = ({ model, messages }) => {
  const prompt = messages.at(-1)!.content
  if (prompt.startsWith('Generate a very short title')) return '"Choosing A Database"'
  if (prompt.startsWith('You are the Chairman')) return `Synthesis by ${model}`
  if (prompt.includes('FINAL RANKING:')) {
    const rank = (m: string) => (PREFERENCE.includes(m) ? PREFERENCE.indexOf(m) : PREFERENCE.length)
    const order = shownAnswers(prompt).sort((a, b) => rank(a.model) - rank(b.model))
    return `Thoughts from ${model}.\n\nFINAL RANKING:\n${order.map(({ label }, i) => `${i + 1}. ${label}`).join('\n')}`
  }
  return `Answer from ${model}`
}
