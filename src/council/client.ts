import OpenAI from 'openai'

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
  /** With `onDelta`, the answer is streamed and each piece passed on as it arrives; the result is the whole text. */
  complete(model: string, messages: ChatMessage[], signal?: AbortSignal, onDelta?: OnDelta): Promise<Completion>
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

/** The message of an API error body: `{error: {message}}`, `{error: "..."}`, `{message}`, or the text itself. */
function apiErrorMessage(status: number | null, body: unknown): string {
  let message = typeof body === 'string' ? body : ''
  let parsed = body
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body)
    } catch {
      // Not JSON: the body itself is the message.
    }
  }
  if (parsed && typeof parsed === 'object') {
    const { error, message: direct } = parsed as { error?: { message?: unknown } | string; message?: unknown }
    const candidate = typeof error === 'string' ? error : (error?.message ?? direct)
    message = typeof candidate === 'string' && candidate ? candidate : typeof body === 'string' ? body : JSON.stringify(parsed)
  }
  return message.trim() || `HTTP ${status ?? 'error'}`
}

/** What the caller passes to hear a streamed answer as it is written. */
export type OnDelta = (text: string) => void

/**
 * Any OpenAI-compatible chat-completions API (OpenRouter, OpenAI, Ollama, vLLM, LiteLLM...), through
 * the official `openai` package. With `onDelta` the answer is streamed (`stream: true`, usage asked for
 * with `stream_options.include_usage`) and each piece handed on as it arrives. Aborted after
 * `timeoutMs`; no retries, so a struggling API is not hammered. The key goes in the Authorization
 * header to `baseUrl` only, and is never part of an error message.
 */
export class OpenAiClient implements LlmClient {
  #api: OpenAI
  #apiKey: string | null
  #timeoutMs: number

  constructor(options: { baseUrl: string; apiKey: string | null; timeoutMs: number }) {
    this.#apiKey = options.apiKey
    this.#timeoutMs = options.timeoutMs
    this.#api = new OpenAI({
      baseURL: options.baseUrl.replace(/\/+$/, ''),
      // A local server (Ollama, vLLM) takes no key: the package needs one, the request then drops the header.
      apiKey: options.apiKey ?? 'none',
      ...(options.apiKey ? {} : { defaultHeaders: { authorization: null } }),
      maxRetries: 0,
      timeout: options.timeoutMs,
      fetch: readErrors
    })
  }

  async complete(model: string, messages: ChatMessage[], signal?: AbortSignal, onDelta?: OnDelta): Promise<Completion> {
    // One deadline for the whole answer, streamed or not: the package's own timeout covers the wait for headers only.
    const timeout = AbortSignal.timeout(this.#timeoutMs)
    const both = signal ? AbortSignal.any([timeout, signal]) : timeout
    try {
      return onDelta ? await this.#stream(model, messages, both, onDelta) : await this.#complete(model, messages, both)
    } catch (error) {
      // Whatever an error says goes to the client, the log and the stored answer: never a credential.
      const failure = this.#failure(error, timeout.aborted, signal?.aborted ?? false)
      failure.message = redactCredentials(failure.message, this.#apiKey)
      throw failure
    }
  }

  async #complete(model: string, messages: ChatMessage[], signal: AbortSignal): Promise<Completion> {
    const body = (await this.#api.chat.completions.create({ model, messages }, { signal })) as unknown as {
      choices?: { message?: { content?: unknown } }[]
      error?: unknown
      usage?: unknown
    }
    if (!body || typeof body !== 'object') throw new LlmError(200, 'response was not JSON')
    if (body.error) throw new LlmError(200, apiErrorMessage(200, body))
    return { text: content(body.choices?.[0]?.message?.content), usage: readUsage(body.usage) }
  }

  async #stream(model: string, messages: ChatMessage[], signal: AbortSignal, onDelta: OnDelta): Promise<Completion> {
    const stream = await this.#api.chat.completions.create({ model, messages, stream: true, stream_options: { include_usage: true } }, { signal })
    let text = ''
    let usage: TokenUsage | null = null
    for await (const chunk of stream) {
      usage = readUsage(chunk.usage) ?? usage
      const piece = chunk.choices?.[0]?.delta?.content
      if (typeof piece === 'string' && piece !== '') {
        text += piece
        onDelta(piece)
      }
    }
    // An abort can end the package's stream quietly: what came so far is not an answer.
    signal.throwIfAborted()
    return { text: content(text), usage }
  }

  #failure(error: unknown, timedOut: boolean, aborted: boolean): LlmError {
    if (error instanceof LlmError) return error
    // An error response, read by `readErrors` below: the package hands it on as the cause.
    if (error instanceof OpenAI.APIConnectionError && error.cause instanceof LlmError) return error.cause
    if (timedOut) return new LlmError(null, `timed out after ${this.#timeoutMs} ms`)
    if (aborted || error instanceof OpenAI.APIUserAbortError) return new LlmError(null, 'aborted')
    if (error instanceof OpenAI.APIConnectionTimeoutError) return new LlmError(null, `timed out after ${this.#timeoutMs} ms`)
    if (error instanceof OpenAI.APIConnectionError) {
      const cause = (error as { cause?: { code?: string; message?: string; cause?: { code?: string } } }).cause
      return new LlmError(null, `request failed: ${cause?.code ?? cause?.cause?.code ?? cause?.message ?? error.message}`)
    }
    if (error instanceof SyntaxError) return new LlmError(200, 'response was not JSON')
    return new LlmError(null, `response was cut off: ${(error as Error)?.message ?? String(error)}`)
  }
}

/**
 * fetch for the package, which keeps only an error body's `error` field: an error response becomes an
 * LlmError with the API's own message, whatever shape its body has (`{error}`, `{message}`, HTML, text).
 */
async function readErrors(url: string | URL | Request, init?: RequestInit): Promise<Response> {
  const response = await fetch(url, init)
  if (response.ok) return response
  let body: string
  try {
    body = await response.text()
  } catch {
    throw new LlmError(response.status, 'response body was cut off')
  }
  throw new LlmError(response.status, apiErrorMessage(response.status, body))
}

function content(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw new LlmError(200, 'response held no message content')
  return value
}
