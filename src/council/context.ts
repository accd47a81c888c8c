import type { ChatMessage } from './client.ts'
import type { ContextRecord } from './types.ts'

/** A stored message as the context needs it: a question, a follow-up, or an answer with its final text. */
export type PastMessage =
  | { role: 'user'; kind: 'question' | 'follow_up'; content: string }
  | { role: 'assistant'; failed: boolean; final: string | null }

export interface Context {
  /** Chat messages to put before the current question, oldest first. */
  history: ChatMessage[]
  /** Said to the models when older turns were left out; null when none was. */
  note: string | null
  record: ContextRecord
}

interface Turn {
  messages: ChatMessage[]
  chars: number
}

/**
 * Groups a conversation into turns (a question, the chairman's final answer, and the follow-ups sent
 * after it). A question the council could not answer is left out with its failed answer; its follow-ups stay.
 */
function turnsOf(past: PastMessage[]): Turn[] {
  const turns: Turn[] = []
  let current: Turn | null = null
  let pendingQuestion: ChatMessage | null = null
  const add = (message: ChatMessage) => {
    if (!current) turns.push((current = { messages: [], chars: 0 }))
    current.messages.push(message)
    current.chars += message.content.length
  }
  for (const message of past) {
    if (message.role === 'user' && message.kind === 'question') {
      current = null
      pendingQuestion = { role: 'user', content: message.content }
    } else if (message.role === 'assistant') {
      if (pendingQuestion && !message.failed && message.final) {
        add(pendingQuestion)
        add({ role: 'assistant', content: message.final })
      }
      pendingQuestion = null
    } else {
      add({ role: 'user', content: message.content })
    }
  }
  return turns.filter((turn) => turn.messages.length > 0)
}

/**
 * The conversation so far within `budgetChars`: whole turns, newest kept first, so the oldest are the
 * ones dropped; a turn that does not fit ends the history there (nothing older is shown either).
 */
export function buildContext(past: PastMessage[], budgetChars: number): Context {
  const turns = turnsOf(past)
  const kept: Turn[] = []
  let chars = 0
  for (let i = turns.length - 1; i >= 0; i--) {
    const turn = turns[i]!
    if (chars + turn.chars > budgetChars) break
    kept.unshift(turn)
    chars += turn.chars
  }
  const dropped = turns.length - kept.length
  return {
    history: kept.flatMap((turn) => turn.messages),
    note:
      dropped > 0
        ? `Note: this conversation is longer than what is shown here; its ${dropped} oldest ${dropped === 1 ? 'exchange was' : 'exchanges were'} left out.`
        : null,
    record: { policy: 'newest_first_within_budget', budget_chars: budgetChars, chars, turns_included: kept.length, turns_dropped: dropped }
  }
}
