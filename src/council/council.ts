import type { AggregateRanking, AssistantMetadata, ModelError, Stage1Result, Stage2Result, Stage3Result } from './types.ts'
import { type LlmClient, LlmError } from './client.ts'
import { chairmanPrompt, rankingPrompt, responseLabel, titlePrompt } from './prompts.ts'
import { aggregateRankings, parseRanking } from './ranking.ts'

export type CouncilEvent =
  | { type: 'stage1_start' }
  | { type: 'stage1_complete'; data: Stage1Result[] }
  | { type: 'stage2_start' }
  | {
      type: 'stage2_complete'
      data: Stage2Result[]
      metadata: { label_to_model: Record<string, string>; aggregate_rankings: AggregateRanking[] }
    }
  | { type: 'stage3_start' }
  | { type: 'stage3_complete'; data: Stage3Result; metadata: AssistantMetadata }

export interface CouncilAnswer {
  stage1: Stage1Result[]
  stage2: Stage2Result[]
  stage3: Stage3Result
  metadata: AssistantMetadata & { errors: ModelError[] }
}

export interface CouncilOptions {
  client: LlmClient
  councilModels: string[]
  chairmanModel: string
  onEvent?: (event: CouncilEvent) => void
  signal?: AbortSignal
}

/** The council produced no answer; `errors` says which model failed how. */
export class CouncilFailedError extends Error {
  override name = 'CouncilFailedError'
  errors: ModelError[]

  constructor(message: string, errors: ModelError[]) {
    super(`${message}: ${errors.map((e) => `${e.model} (${e.status ?? 'no response'}: ${e.message})`).join('; ')}`)
    this.errors = errors
  }
}

function modelError(model: string, stage: string, error: unknown): ModelError {
  return error instanceof LlmError
    ? { model, stage, status: error.status, message: error.message }
    : { model, stage, status: null, message: (error as Error)?.message ?? String(error) }
}

/** Asks every model at once; the answers that came, in model order, and the failures. */
async function askAll(
  client: LlmClient,
  models: string[],
  prompt: string,
  stage: string,
  signal?: AbortSignal
): Promise<{ answers: { model: string; text: string }[]; errors: ModelError[] }> {
  const settled = await Promise.allSettled(models.map((model) => client.complete(model, [{ role: 'user', content: prompt }], signal)))
  const answers: { model: string; text: string }[] = []
  const errors: ModelError[] = []
  settled.forEach((result, i) => {
    const model = models[i]!
    if (result.status === 'fulfilled') answers.push({ model, text: result.value })
    else errors.push(modelError(model, stage, result.reason))
  })
  return { answers, errors }
}

/**
 * The three stages of llm-council. Stage 1: every council model answers, failures dropped.
 * Stage 2: each model that answered ranks the anonymised answers. Stage 3: the chairman writes the
 * final answer; if it fails, the best-ranked council model that answered does, and the metadata
 * says so. Throws CouncilFailedError when no answer can be produced.
 */
export async function runCouncil(question: string, options: CouncilOptions): Promise<CouncilAnswer> {
  const { client, councilModels, chairmanModel, signal } = options
  const emit = options.onEvent ?? (() => {})

  emit({ type: 'stage1_start' })
  const first = await askAll(client, councilModels, question, 'stage1', signal)
  const errors = [...first.errors]
  if (first.answers.length === 0) throw new CouncilFailedError('every council model failed', errors)
  const stage1 = first.answers.map(({ model, text }) => ({ model, response: text }))
  emit({ type: 'stage1_complete', data: stage1 })

  emit({ type: 'stage2_start' })
  const labelToModel = Object.fromEntries(stage1.map((answer, i) => [responseLabel(i), answer.model]))
  const labels = Object.keys(labelToModel)
  const second = await askAll(client, stage1.map((a) => a.model), rankingPrompt(question, stage1), 'stage2', signal)
  errors.push(...second.errors)
  const stage2 = second.answers.map(({ model, text }) => ({ model, ranking: text, parsed_ranking: parseRanking(text, labels) }))
  const aggregate = aggregateRankings(stage2, labelToModel)
  emit({ type: 'stage2_complete', data: stage2, metadata: { label_to_model: labelToModel, aggregate_rankings: aggregate } })

  emit({ type: 'stage3_start' })
  const prompt = chairmanPrompt(question, stage1, stage2)
  const metadata: CouncilAnswer['metadata'] = { label_to_model: labelToModel, aggregate_rankings: aggregate, errors }
  let stage3: Stage3Result
  try {
    stage3 = { model: chairmanModel, response: await client.complete(chairmanModel, [{ role: 'user', content: prompt }], signal) }
  } catch (error) {
    errors.push(modelError(chairmanModel, 'stage3', error))
    // The best-ranked model that answered; with no rankings, the first that answered.
    const standIn = aggregate[0]?.model ?? stage1[0]!.model
    try {
      stage3 = { model: standIn, response: await client.complete(standIn, [{ role: 'user', content: prompt }], signal) }
    } catch (fallbackError) {
      errors.push(modelError(standIn, 'stage3', fallbackError))
      throw new CouncilFailedError('the chairman and its stand-in both failed', errors)
    }
    metadata.chairman_fallback = { failed_model: chairmanModel, used_model: standIn }
  }
  emit({ type: 'stage3_complete', data: stage3, metadata })
  return { stage1, stage2, stage3, metadata }
}

export const MAX_TITLE_CHARS = 50

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' })

/** `text` in at most `max` characters (code points), cut between graphemes (never inside an emoji) and ending in … when cut. */
function shorten(text: string, max = MAX_TITLE_CHARS): string {
  let length = 0
  for (const _ of text) if (++length > max) break
  if (length <= max) return text
  let kept = ''
  let count = 0
  for (const { segment } of graphemes.segment(text)) {
    let size = 0
    for (const _ of segment) size++
    if (count + size > max - 1) break
    kept += segment
    count += size
  }
  return `${kept.trimEnd()}…`
}

/** A title from the question itself, for when the title model cannot give one. */
export function fallbackTitle(question: string): string {
  return shorten(question.replace(/\s+/g, ' ').trim()) || 'New Conversation'
}

/** A 3-5 word title for a conversation's first question; falls back to the question's start. */
export async function generateTitle(
  question: string,
  client: LlmClient,
  model: string,
  signal?: AbortSignal
): Promise<{ title: string; error?: ModelError }> {
  try {
    const raw = await client.complete(model, [{ role: 'user', content: titlePrompt(question) }], signal)
    const line = raw.trim().split('\n')[0] ?? ''
    const title = line.replace(/^(title\s*:\s*)/i, '').replace(/^["'`*_#\s]+|["'`*_.\s]+$/g, '').trim()
    if (!title) return { title: fallbackTitle(question) }
    return { title: shorten(title) }
  } catch (error) {
    return { title: fallbackTitle(question), error: modelError(model, 'title', error) }
  }
}
