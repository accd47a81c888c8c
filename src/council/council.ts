import type {
  AggregateRanking,
  AnswerStatus,
  AssistantMetadata,
  AssistantStages,
  CallUsage,
  CouncilRecord,
  ContextRecord,
  ModelError,
  Stage1Result,
  Stage2Result,
  Stage3Result
} from './types.ts'
import { type ChatMessage, type Completion, type LlmClient, LlmError, type OnDelta } from './client.ts'
import type { Context } from './context.ts'
import { PROMPTS_VERSION, chairmanPrompt, rankingPrompt, responseLabel, titlePrompt } from './prompts.ts'
import { type ReviewerRanking, aggregateRankings, bordaCount, kendallW, parseRanking, relabel, shuffledOrder } from './ranking.ts'
import { totals } from './usage.ts'

export type CouncilEvent =
  | { type: 'stage1_start' }
  /** A piece of a member's answer as it is written; a member's pieces concatenate to its answer. */
  | { type: 'stage1_delta'; model: string; text: string }
  /** One member's whole answer, as soon as it has it (`stage1_complete` still comes with them all). */
  | { type: 'stage1_model_complete'; data: Stage1Result }
  /** A member that failed: any text it streamed is not an answer. */
  | { type: 'stage1_model_failed'; data: ModelError }
  | { type: 'stage2_model_complete'; data: Stage2Result }
  | { type: 'stage1_complete'; data: Stage1Result[] }
  | { type: 'stage2_start' }
  | {
      type: 'stage2_complete'
      data: Stage2Result[]
      metadata: Pick<AssistantMetadata, 'label_to_model' | 'aggregate_rankings' | 'aggregate_borda' | 'agreement'>
    }
  | { type: 'stage3_start' }
  /** A piece of the synthesis; when `model` changes, a stand-in has started over after the chairman failed. */
  | { type: 'stage3_delta'; model: string; text: string }
  | { type: 'stage3_complete'; data: Stage3Result; metadata: AssistantMetadata }

export type CouncilMetadata = AssistantMetadata & {
  errors: ModelError[]
  status: AnswerStatus
  council: CouncilRecord
  calls: CallUsage[]
  attempts: number
}

/** An answer, complete, degraded (some members or the chairman missing) or failed (stage3 null). */
export interface CouncilAnswer {
  stage1: Stage1Result[]
  stage2: Stage2Result[]
  stage3: Stage3Result | null
  metadata: CouncilMetadata
}

/** The council a run uses: which models, which chairman, and how it decides. */
export interface CouncilSettings {
  preset: string | null
  models: string[]
  chairman: string
  stage2: boolean
  systemPrompt: string | null
  /** Stage-1 answers needed for an answer at all. */
  minAnswers: number
  excludeSelfVotes: boolean
}

export interface CouncilOptions {
  client: LlmClient
  settings: CouncilSettings
  /** The conversation so far, already within its budget; none for a first question. */
  context?: Context
  onEvent?: (event: CouncilEvent) => void
  signal?: AbortSignal
  /** The reviewers' shuffles draw from this (tests pass a seeded one). */
  random?: () => number
}

// Stand-ins tried, best-ranked first, after the chairman fails.
const CHAIRMAN_STAND_INS = 2

export function modelError(model: string, stage: string, error: unknown): ModelError {
  return error instanceof LlmError
    ? { model, stage, status: error.status, message: error.message }
    : { model, stage, status: null, message: (error as Error)?.message ?? String(error) }
}

export const councilRecord = (settings: CouncilSettings): CouncilRecord => ({
  preset: settings.preset,
  models: settings.models,
  chairman: settings.chairman,
  stage2: settings.stage2,
  system_prompt: settings.systemPrompt,
  prompts_version: PROMPTS_VERSION,
  min_answers: settings.minAnswers,
  exclude_self_votes: settings.excludeSelfVotes
})

/** The settings a stored answer records, for a retry that must use the same council. */
export function settingsOf(record: CouncilRecord): CouncilSettings {
  return {
    preset: record.preset,
    models: record.models,
    chairman: record.chairman,
    stage2: record.stage2,
    systemPrompt: record.system_prompt,
    minAnswers: record.min_answers,
    excludeSelfVotes: record.exclude_self_votes
  }
}

/**
 * One council run, or a retry of a stored answer (`prior`): only what is missing is asked again.
 * Stage 1 asks the members with no answer yet; stage 2 asks every reviewer again when stage 1 changed,
 * else only the reviewers that failed; the chairman writes again when anything before it changed or
 * it failed. Never throws for a model's failure: a run below the quorum is returned with status
 * `failed` and its errors.
 */
export async function runCouncil(question: string, options: CouncilOptions, prior?: AssistantStages): Promise<CouncilAnswer> {
  const { client, settings, context, signal } = options
  const emit = options.onEvent ?? (() => {})
  const attempt = ((prior?.metadata?.attempts as number | undefined) ?? (prior ? 1 : 0)) + 1
  const calls: CallUsage[] = [...(prior?.metadata?.calls ?? [])]
  let errors: ModelError[] = [...(prior?.metadata?.errors ?? [])]
  const forget = (stage: string, models?: string[]) => {
    errors = errors.filter((e) => e.stage !== stage || (models !== undefined && !models.includes(e.model)))
  }
  // Each call takes its place in `calls` as it starts, so the record is in the order calls were made.
  // A failure is thrown to the stage, which records it in `errors` in the council's order.
  const ask: Ask = async (model, stage, messages, onDelta) => {
    const call: CallUsage = { model, stage, prompt_tokens: null, completion_tokens: null, cost: null, attempt }
    calls.push(call)
    let completion: Completion
    try {
      completion = await client.complete(model, messages, signal, onDelta)
    } catch (error) {
      call.failed = true
      throw error
    }
    Object.assign(call, { prompt_tokens: completion.usage?.prompt_tokens ?? null, completion_tokens: completion.usage?.completion_tokens ?? null, cost: completion.usage?.cost ?? null })
    return completion.text
  }
  const system = [settings.systemPrompt, context?.note].filter(Boolean).join('\n\n')
  const withHistory = (prompt: string): ChatMessage[] => [
    ...(system ? [{ role: 'system' as const, content: system }] : []),
    ...(context?.history ?? []),
    { role: 'user', content: prompt }
  ]

  // Stage 1: the members with no answer yet, in the council's order.
  emit({ type: 'stage1_start' })
  const had = new Map((prior?.stage1 ?? []).map((answer) => [answer.model, answer.response]))
  const toAsk = settings.models.filter((model) => !had.has(model))
  forget('stage1', toAsk)
  const asked = await Promise.allSettled(
    toAsk.map(async (model) => {
      try {
        const response = await ask(model, 'stage1', withHistory(question), (text) => emit({ type: 'stage1_delta', model, text }))
        emit({ type: 'stage1_model_complete', data: { model, response } })
        return response
      } catch (error) {
        emit({ type: 'stage1_model_failed', data: modelError(model, 'stage1', error) })
        throw error
      }
    })
  )
  asked.forEach((result, i) =>
    result.status === 'fulfilled' ? had.set(toAsk[i]!, result.value) : errors.push(modelError(toAsk[i]!, 'stage1', result.reason))
  )
  const stage1 = settings.models.filter((model) => had.has(model)).map((model) => ({ model, response: had.get(model)! }))
  const stage1Changed = asked.some((result) => result.status === 'fulfilled')
  const missing = settings.models.filter((model) => !had.has(model))
  const record = councilRecord(settings)
  const base = { errors, council: record, calls, attempts: attempt, missing, ...(context ? { context: context.record } : priorContext(prior)) }
  // Stopped (a cancel, shutdown): what was finished is kept, nothing more is asked.
  if (stage1.length < Math.max(1, settings.minAnswers) || signal?.aborted) {
    return { stage1, stage2: [], stage3: null, metadata: { ...base, errors, status: 'failed', usage: totals(calls) } }
  }
  emit({ type: 'stage1_complete', data: stage1 })

  // Stage 2: each reviewer sees the answers in its own order, under its own labels.
  emit({ type: 'stage2_start' })
  const labelToModel = Object.fromEntries(stage1.map((answer, i) => [responseLabel(i), answer.model]))
  const labelOf = new Map(Object.entries(labelToModel).map(([label, model]) => [model, label]))
  let stage2: Stage2Result[] = stage1Changed ? [] : [...(prior?.stage2 ?? [])]
  let stage2Changed = false
  if (settings.stage2) {
    const reviewed = new Set(stage2.map((review) => review.model))
    const reviewers = stage1.map((answer) => answer.model).filter((model) => !reviewed.has(model))
    forget('stage2', stage1Changed ? undefined : reviewers)
    const random = options.random ?? Math.random
    const reviews = await Promise.allSettled(
      reviewers.map(async (reviewer) => {
        const done = await review(reviewer, question, stage1, labelOf, random, ask)
        emit({ type: 'stage2_model_complete', data: done })
        return done
      })
    )
    reviews.forEach((result, i) => result.status === 'rejected' && errors.push(modelError(reviewers[i]!, 'stage2', result.reason)))
    const added = reviews.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
    stage2Changed = added.length > 0
    stage2 = [...stage2, ...added].sort((a, b) => stage1.findIndex((s) => s.model === a.model) - stage1.findIndex((s) => s.model === b.model))
  }
  const rankings: ReviewerRanking[] = stage2.map((r) => ({ reviewer: r.model, ranked: r.parsed_ranking.map((label) => labelToModel[label]!).filter(Boolean) }))
  const aggregate = aggregateRankings(rankings, settings.excludeSelfVotes)
  const ranked = {
    label_to_model: labelToModel,
    aggregate_rankings: aggregate,
    aggregate_borda: bordaCount(rankings, settings.excludeSelfVotes),
    agreement: kendallW(rankings, stage1.map((answer) => answer.model))
  }
  emit({ type: 'stage2_complete', data: stage2, metadata: ranked })
  if (signal?.aborted) {
    return { stage1, stage2, stage3: null, metadata: { ...ranked, ...base, errors, status: 'failed', usage: totals(calls) } }
  }

  // Stage 3: the chairman, then the best-ranked members that answered, until one writes the synthesis.
  emit({ type: 'stage3_start' })
  const metadata: CouncilMetadata = { ...ranked, ...base, errors, status: 'complete' }
  let stage3 = prior?.stage3 ?? null
  const chairmanFailed = !stage3 || prior?.metadata?.chairman_fallback !== undefined
  if (stage1Changed || stage2Changed || chairmanFailed) {
    forget('stage3')
    stage3 = await synthesise(question, stage1, stage2, settings, aggregate, withHistory, ask, errors, (model, text) => emit({ type: 'stage3_delta', model, text }), signal)
    if (stage3 && stage3.model !== settings.chairman) metadata.chairman_fallback = { failed_model: settings.chairman, used_model: stage3.model }
  } else if (prior?.metadata?.chairman_fallback) {
    metadata.chairman_fallback = prior.metadata.chairman_fallback
  }
  metadata.errors = errors
  const reviewersMissing = settings.stage2 && stage2.length < stage1.length
  metadata.status = !stage3 ? 'failed' : missing.length > 0 || reviewersMissing || metadata.chairman_fallback ? 'degraded' : 'complete'
  metadata.usage = totals(calls)
  if (stage3) emit({ type: 'stage3_complete', data: stage3, metadata })
  return { stage1, stage2, stage3, metadata }
}

type Ask = (model: string, stage: string, messages: ChatMessage[], onDelta?: OnDelta) => Promise<string>

const priorContext = (prior?: AssistantStages) => (prior?.metadata?.context ? { context: prior.metadata.context as ContextRecord } : {})

async function review(
  reviewer: string,
  question: string,
  stage1: Stage1Result[],
  labelOf: Map<string, string>,
  random: () => number,
  ask: Ask
): Promise<Stage2Result> {
  const shown = shuffledOrder(stage1.length, random).map((i) => stage1[i]!)
  // The reviewer's label for each answer -> the conversation-wide label of that answer.
  const reviewerLabels = Object.fromEntries(shown.map((answer, i) => [responseLabel(i), labelOf.get(answer.model)!]))
  const text = await ask(reviewer, 'stage2', [{ role: 'user', content: rankingPrompt(question, shown) }])
  const own = Object.keys(reviewerLabels)
  const unknown = parseRanking(text).filter((label) => !(label in reviewerLabels))
  return {
    model: reviewer,
    ranking: relabel(text, reviewerLabels),
    parsed_ranking: parseRanking(text, own).map((label) => reviewerLabels[label]!),
    reviewer_labels: reviewerLabels,
    ...(unknown.length > 0 ? { unknown_labels: unknown } : {})
  }
}

async function synthesise(
  question: string,
  stage1: Stage1Result[],
  stage2: Stage2Result[],
  settings: CouncilSettings,
  aggregate: AggregateRanking[],
  withHistory: (prompt: string) => ChatMessage[],
  ask: Ask,
  errors: ModelError[],
  onDelta: (model: string, text: string) => void,
  signal?: AbortSignal
): Promise<Stage3Result | null> {
  const prompt = withHistory(chairmanPrompt(question, stage1, stage2, settings.stage2))
  const standIns = [...aggregate.map((entry) => entry.model), ...stage1.map((answer) => answer.model)]
  const chain = [...new Set([settings.chairman, ...standIns.filter((model) => model !== settings.chairman).slice(0, CHAIRMAN_STAND_INS)])]
  for (const model of chain) {
    if (signal?.aborted) break
    try {
      return { model, response: await ask(model, 'stage3', prompt, (text) => onDelta(model, text)) }
    } catch (error) {
      // The next in the chain writes.
      errors.push(modelError(model, 'stage3', error))
    }
  }
  return null
}

/** Whether a stored answer has anything a retry could add: a failure, or members, reviewers or a chairman missing. */
export function retryable(answer: AssistantStages): boolean {
  const status = answer.metadata?.status
  return status !== undefined && status !== 'complete'
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
): Promise<{ title: string; error?: ModelError; call: CallUsage }> {
  const unknown = { model, stage: 'title', prompt_tokens: null, completion_tokens: null, cost: null, attempt: 1 }
  try {
    const { text: raw, usage } = await client.complete(model, [{ role: 'user', content: titlePrompt(question) }], signal)
    const call = { ...unknown, ...usage }
    const line = raw.trim().split('\n')[0] ?? ''
    const title = line.replace(/^(title\s*:\s*)/i, '').replace(/^["'`*_#\s]+|["'`*_.\s]+$/g, '').trim()
    return { title: title ? shorten(title) : fallbackTitle(question), call }
  } catch (error) {
    return { title: fallbackTitle(question), error: modelError(model, 'title', error), call: unknown }
  }
}
