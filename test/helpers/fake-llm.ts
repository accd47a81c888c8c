import { type IncomingHttpHeaders, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'

export interface FakeRequest {
  path: string
  headers: IncomingHttpHeaders
  model: string
  messages: { role: string; content: string }[]
  /** Whether the client asked for a streamed answer. */
  stream: boolean
  /** Set when the client closed the connection before the answer was whole (a cancel, a timeout). */
  closedEarly: boolean
}

/**
 * What the fake answers: text (200 with that content), or a status with an error body, after a delay.
 * A streamed request gets the text word by word, `chunkDelayMs` apart; `cutAfter` ends the stream
 * (connection dropped) after that many pieces.
 */
export type FakeReply =
  | string
  | { status: number; body?: unknown; delayMs?: number; text?: string; usage?: unknown; chunkDelayMs?: number; cutAfter?: number }
  | { hang: true }

/** The pieces a streamed text is sent in: each word with the space after it. */
export const pieces = (text: string) => text.match(/\s*\S+\s*|\s+/g) ?? [text]
// Unref'd: a stream held for a long pause never keeps a finished test's process alive.
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref())

export type FakeHandler = (request: FakeRequest) => FakeReply | Promise<FakeReply>

/** A small OpenAI-compatible chat-completions server on 127.0.0.1 that records what it was asked. */
export async function startFakeLlm(t: Test, handler: FakeHandler) {
  const requests: FakeRequest[] = []
  let current = handler
  const server = createServer(async (req, res) => {
    let raw = ''
    for await (const chunk of req) raw += chunk
    const body = JSON.parse(raw || '{}') as { model: string; messages: FakeRequest['messages']; stream?: boolean }
    const request: FakeRequest = { path: req.url ?? '', headers: req.headers, model: body.model, messages: body.messages, stream: body.stream === true, closedEarly: false }
    requests.push(request)
    res.on('close', () => (request.closedEarly = !res.writableFinished))
    const reply = await current(request)
    if (typeof reply === 'object' && 'hang' in reply) return // never answers; the client must time out
    const delay = typeof reply === 'object' ? (reply.delayMs ?? 0) : 0
    if (delay) await sleep(delay)
    if (request.stream && (typeof reply === 'string' || (reply.text !== undefined && reply.status === 200))) {
      const content = typeof reply === 'string' ? reply : reply.text!
      const options: { chunkDelayMs?: number; cutAfter?: number; usage?: unknown } = typeof reply === 'string' ? {} : reply
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const send = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\n\n`)
      let sent = 0
      for (const piece of pieces(content)) {
        if (res.destroyed) return
        if (sent > 0 && options.chunkDelayMs) await sleep(options.chunkDelayMs)
        if (options.cutAfter !== undefined && sent === options.cutAfter) return void res.destroy()
        send({ id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: piece } }] })
        sent++
      }
      if (options.usage !== undefined) send({ id: 'x', object: 'chat.completion.chunk', choices: [], usage: options.usage })
      res.end('data: [DONE]\n\n')
      return
    }
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
