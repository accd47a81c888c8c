import { randomUUID } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const MODELS = ['openai/gpt-5.1', 'google/gemini-3-pro-preview', 'anthropic/claude-sonnet-4.5', 'x-ai/grok-4']
const WORDS = 'council model answer ranking database index usage tier stream latency schema migration token vector postgres json query limit'.split(' ')

function text(seed: number, words: number): string {
  let out = ''
  for (let i = 0; i < words; i++) out += `${WORDS[(seed * 31 + i * 7) % WORDS.length]}${i % 12 === 11 ? '.\n' : ' '}`
  return out
}

/** An llm-council assistant message: four answers, four rankings, a synthesis (about `size` bytes). */
export function assistantMessage(seed: number, size = 10_000) {
  const words = Math.max(10, Math.round(size / 9 / 9))
  const labels = MODELS.map((_, i) => `Response ${String.fromCharCode(65 + i)}`)
  return {
    role: 'assistant',
    stage1: MODELS.map((model, i) => ({ model, response: text(seed + i, words) })),
    stage2: MODELS.map((model, i) => ({
      model,
      ranking: `${text(seed + i + 7, words)}\n\nFINAL RANKING:\n${labels.map((l, j) => `${j + 1}. ${l}`).join('\n')}`,
      parsed_ranking: labels
    })),
    stage3: { model: MODELS[1], response: text(seed + 99, words) },
    metadata: {
      label_to_model: Object.fromEntries(labels.map((l, i) => [l, MODELS[i]])),
      aggregate_rankings: MODELS.map((model, i) => ({ model, average_rank: i + 1, rankings_count: 4 }))
    }
  }
}

export function conversationFile(seed: number, exchanges: number, size?: number) {
  const messages = []
  for (let i = 0; i < exchanges; i++) {
    messages.push({ role: 'user', content: `${text(seed + i, 12)}?` })
    messages.push(assistantMessage(seed + i, size))
  }
  const created = new Date(Date.UTC(2025, 0, 1) + seed * 60_000).toISOString().slice(0, 19)
  return { id: randomUUID(), created_at: created, title: text(seed, 4).trim(), messages }
}

/** A flat llm-council data dir of `count` conversations; returns the message total. */
export function generateDataDir(dir: string, count: number, options: { exchanges?: number; size?: number } = {}): number {
  const conversations = join(dir, 'conversations')
  mkdirSync(conversations, { recursive: true })
  let messages = 0
  for (let i = 0; i < count; i++) {
    const file = conversationFile(i, options.exchanges ?? 1 + (i % 3), options.size ?? 2_000)
    messages += file.messages.length
    writeFileSync(join(conversations, `${file.id}.json`), JSON.stringify(file))
  }
  return messages
}
