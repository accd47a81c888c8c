export interface ChatMessage {
  role: 'system' | 'user' | 'assistant'
  content: string
}

/** What a provider reported one call used; each field null when it did not say. */
export interface TokenUsage {
  prompt_tokens: number | null
  completion_tokens: number | null
  cost: number | null
}

export interface Completion {
  text: string
  /** null when the response carried no usage at all. */
  usage: TokenUsage | null
}

/** Asks one model; every provider (the real API, the offline demo, a test's fake) is one of these. */
export interface LlmClient {
  complete(model: string, messages: ChatMessage[], signal?: AbortSignal): Promise<Completion>
}

const count = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : null)

/** The `usage` object of a chat completion: token counts, and `cost` where the provider reports it (OpenRouter does). */
export function readUsage(usage: unknown): TokenUsage | null {
  if (!usage || typeof usage !== 'object') return null
  const { prompt_tokens, completion_tokens, cost } = usage as Record<string, unknown>
  const read = { prompt_tokens: count(prompt_tokens), completion_tokens: count(completion_tokens), cost: count(cost) }
  return Object.values(read).every((value) => value === null) ? null : read
}

/** A model call that failed, with the API's status (null when no response came) and its message. */
export class LlmError extends Error {
  override name = 'LlmError'
  status: number | null

  constructor(status: number | null, message: string) {
    super(message)
    this.status = status
  }
}

const MAX_ERROR_MESSAGE = 500
const REDACTED = '[redacted]'

/**
 * `text` from an upstream API (an error body, a network error) with every credential it may echo
 * replaced: the configured key, bearer tokens, `sk-` style keys, and `api_key`/`authorization` values.
 * Cut to MAX_ERROR_MESSAGE characters after redacting, so a key is never left half shown.
 */
export function redactCredentials(text: string, apiKey: string | null): string {
  let redacted = apiKey ? text.replaceAll(apiKey, REDACTED) : text
  redacted = redacted
    .replace(/\b(bearer|basic)(\s+)[^\s"',;}\]]+/gi, `$1$2${REDACTED}`)
    .replace(/\b(sk|pk|rk)-[A-Za-z0-9_-]{8,}/g, REDACTED)
    .replace(/((?:api[_-]?key|authorization|x-api-key|token|secret|password)["']?\s*[:=]\s*["']?)(?!\[redacted\])[^\s"',;}\]]+/gi, `$1${REDACTED}`)
  const codePoints = [...redacted]
  return codePoints.length > MAX_ERROR_MESSAGE ? `${codePoints.slice(0, MAX_ERROR_MESSAGE).join('')}…` : redacted
}

function apiErrorMessage(status: number, body: string): string {
  let message = body
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } | string; message?: unknown }
    const candidate = typeof parsed.error === 'string' ? parsed.error : (parsed.error?.message ?? parsed.message)
    if (typeof candidate === 'string' && candidate) message = candidate
  } catch {
    // Not JSON: the body itself is the message.
  }
  return message.trim() || `HTTP ${status}`
}

/**
 * Any OpenAI-compatible chat-completions API (OpenRouter, OpenAI, Ollama, vLLM, LiteLLM...).
 * One request per call, aborted after `timeoutMs`; no retries, so a struggling API is not hammered.
 * The key goes in the Authorization header to `baseUrl` only, and is never part of an error message.
 */
export class OpenAiClient implements LlmClient {
  #baseUrl: string
  #apiKey: string | null
  #timeoutMs: number

  constructor(options: { baseUrl: string; apiKey: string | null; timeoutMs: number }) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '')
    this.#apiKey = options.apiKey
    this.#timeoutMs = options.timeoutMs
  }

  async complete(model: string, messages: ChatMessage[], signal?: AbortSignal): Promise<Completion> {
    try {
      return await this.#complete(model, messages, signal)
    } catch (error) {
      // Whatever an error says goes to the client, the log and the stored answer: never a credential.
      if (error instanceof LlmError) error.message = redactCredentials(error.message, this.#apiKey)
      throw error
    }
  }

  async #complete(model: string, messages: ChatMessage[], signal?: AbortSignal): Promise<Completion> {
    const timeout = AbortSignal.timeout(this.#timeoutMs)
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' }
    if (this.#apiKey) headers.authorization = `Bearer ${this.#apiKey}`
    let response: Response
    try {
      response = await fetch(`${this.#baseUrl}/chat/completions`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ model, messages }),
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout
      })
    } catch (error) {
      if (timeout.aborted) throw new LlmError(null, `timed out after ${this.#timeoutMs} ms`)
      if (signal?.aborted) throw new LlmError(null, 'aborted')
      const cause = (error as { cause?: { code?: string; message?: string } }).cause
      throw new LlmError(null, `request failed: ${cause?.code ?? cause?.message ?? (error as Error).message}`)
    }
    let text: string
    try {
      text = await response.text()
    } catch {
      throw new LlmError(response.status, timeout.aborted ? `timed out after ${this.#timeoutMs} ms` : 'response body was cut off')
    }
    if (!response.ok) throw new LlmError(response.status, apiErrorMessage(response.status, text))
    let content: unknown
    let usage: TokenUsage | null
    try {
      const body = JSON.parse(text) as { choices?: { message?: { content?: unknown } }[]; error?: unknown; usage?: unknown }
      if (body.error) throw new LlmError(response.status, apiErrorMessage(response.status, text))
      content = body.choices?.[0]?.message?.content
      usage = readUsage(body.usage)
    } catch (error) {
      if (error instanceof LlmError) throw error
      throw new LlmError(response.status, 'response was not JSON')
    }
    if (typeof content !== 'string' || content.trim() === '') {
      throw new LlmError(response.status, 'response held no message content')
    }
    return { text: content, usage }
  }
}
