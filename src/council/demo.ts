import type { ChatMessage, Completion, LlmClient, OnDelta } from './client.ts'
import { fallbackTitle } from './council.ts'

const SAMPLE_NOTICE = '*This is a sample answer from the offline demo: no language model was asked.*'

function hash(text: string): number {
  let h = 2166136261
  for (const char of text) h = Math.imul(h ^ char.charCodeAt(0), 16777619)
  return h >>> 0
}

/**
 * The offline demo council: answers that say they are samples, well-formed rankings and a
 * synthesis, so the whole app can be tried with no key and no network. Never used in production.
 */
export class DemoClient implements LlmClient {
  #delayMs: number

  constructor(options: { delayMs?: number } = {}) {
    this.#delayMs = options.delayMs ?? 250
  }

  async complete(model: string, messages: ChatMessage[], signal?: AbortSignal, onDelta?: OnDelta): Promise<Completion> {
    const text = await this.#answer(model, messages, signal)
    // Streamed a line at a time, so the demo shows answers being written as real models do.
    for (const line of onDelta ? text.split(/(?<=\n)/) : []) {
      await new Promise((resolve) => setTimeout(resolve, this.#delayMs / 10))
      signal?.throwIfAborted()
      onDelta!(line)
    }
    // No model is asked: nothing is used, and the demo says so rather than guess.
    return { text, usage: null }
  }

  async #answer(model: string, messages: ChatMessage[], signal?: AbortSignal): Promise<string> {
    if (this.#delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.#delayMs))
    signal?.throwIfAborted()
    const prompt = messages.at(-1)?.content ?? ''
    const name = model.replace(/^demo\//, '')

    if (prompt.startsWith('Generate a very short title')) {
      const question = /Question: ([\s\S]*)\n\nTitle:$/.exec(prompt)?.[1] ?? prompt
      return fallbackTitle(question.split(/\s+/).slice(0, 5).join(' ').replace(/[?.!,;:]+$/, ''))
    }
    if (prompt.startsWith('You are the Chairman')) {
      return `${SAMPLE_NOTICE}\n\n**Council synthesis (demo).** The council's sample answers agree that a real ` +
        'answer would appear here. Set `OPENROUTER_API_KEY` (or `LLM_BASE_URL` for another OpenAI-compatible API) ' +
        'and restart the server to ask real models.'
    }
    if (prompt.includes('FINAL RANKING:')) {
      const labels = [...prompt.matchAll(/^(Response [A-Z]):$/gm)].map((match) => match[1]!)
      const order = [...labels].sort((a, b) => hash(name + a) - hash(name + b))
      const notes = labels.map((label) => `${label} is a sample, reviewed by ${name} for the demo.`).join('\n')
      return `${notes}\n\nFINAL RANKING:\n${order.map((label, i) => `${i + 1}. ${label}`).join('\n')}`
    }
    return `${SAMPLE_NOTICE}\n\n**${name}** would answer:\n\n> ${prompt.slice(0, 300)}\n\n` +
      `- a first point (sample ${hash(name + prompt) % 97})\n- a second point\n\n` + '```text\nsample output\n```'
  }
}
