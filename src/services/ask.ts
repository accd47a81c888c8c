import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.ts'
import type { LlmClient } from '../council/client.ts'
import { buildContext } from '../council/context.ts'
import { randomUUID } from 'node:crypto'
import { type CouncilAnswer, type CouncilEvent, type CouncilSettings, councilRecord, generateTitle, retryable, runCouncil, settingsOf } from '../council/council.ts'
import { interruptedAnswer } from '../council/partial.ts'
import type { AssistantStages, CallUsage, ModelError } from '../council/types.ts'
import { totals } from '../council/usage.ts'
import { HttpError, notFound } from '../errors.ts'
import type { ConversationsRepo } from '../repos/conversations.ts'
import type { RunState } from '../db/schema.ts'
import type { MessagesRepo, RunEnd } from '../repos/messages.ts'
import type { RunRow, RunsRepo, StaleRun, StoredEvent } from '../repos/runs.ts'
import type { LiveRun, RunEvent, RunHub } from './run-hub.ts'
import { type ConsumeResult, type UsageFigures, type UsageRepo, exhausted } from '../repos/usage.ts'
import { resolveCouncil } from './council-settings.ts'

export type AskEvent = CouncilEvent | { type: 'title_complete'; data: { title: string } } | { type: 'complete' }

export interface AskDeps {
  conversations: ConversationsRepo
  messages: MessagesRepo
  usage: UsageRepo
  runs: RunsRepo
  hub: RunHub
  client: LlmClient
  llm: Pick<
    Config['llm'],
    'titleModel' | 'timeoutMs' | 'presets' | 'allowedModels' | 'contextChars' | 'minAnswers' | 'excludeSelfVotes'
  >
}

/** A run started (or joined, with the same Idempotency-Key): follow its events, or wait for its answer. */
export interface RunHandle {
  id: string
  conversationId: string
  /** true when an earlier request with the same Idempotency-Key started it: nothing more was charged. */
  joined: boolean
}

/** A client's Idempotency-Key and a hash of the request it came with. */
export interface Idempotency {
  key: string
  hash: string
}

/** What a run has at its end, as its last event says it. */
export interface RunEndEvent {
  type: 'run_end'
  run_id: string
  state: Exclude<RunState, 'running'>
  /** Where its answer is stored (null: none was). */
  position: number | null
  /** Why it did not complete, as the JSON routes answer it. */
  error?: { statusCode: number; message: string; body?: Record<string, unknown> }
}

/** What a run works on: a new question, or a stored answer to retry. */
interface RunPlan {
  question: string
  questionPosition: number
  /** Where the answer goes: appended after the question, or in place of the answer at this position. */
  answerPosition: number | null
  settings: CouncilSettings
  prior?: AssistantStages
}

/**
 * Asking the council, for both transports and for retries: check the conversation, take a unit of the
 * allowance, store the user's message with a run (or take the conversation for a retry), run the
 * stages in the background (no transaction is open while models think; a client that goes away does
 * not stop it) and store the answer, failed or not. The run's events go through the hub to every
 * client following it, on any instance.
 *
 * Allowance: a failed or interrupted run (the server stopped or died) gives its unit back. A cancelled
 * run gives it back when no model had answered yet in it, and keeps it once one had. Every call's
 * tokens and cost go to the user's totals either way.
 */
export class AskService {
  #deps: AskDeps
  #running = new Set<Promise<unknown>>()
  #draining = false

  constructor(deps: AskDeps) {
    this.#deps = deps
  }

  /**
   * Shutdown: no new questions; runs under way may finish within `graceMs`, after which they are
   * stopped and stored as interrupted with what they had. Resolves when none is left.
   */
  async drain(graceMs: number, log: FastifyBaseLogger): Promise<void> {
    this.#draining = true
    if (this.#running.size === 0) return
    log.info(`waiting up to ${graceMs} ms for ${this.#running.size} council run(s) to finish`)
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<'expired'>((resolve) => (timer = setTimeout(() => resolve('expired'), graceMs)))
    const outcome = await Promise.race([Promise.allSettled([...this.#running]), expired])
    clearTimeout(timer)
    if (outcome === 'expired') {
      log.warn(`grace period over: stopping ${this.#running.size} council run(s); they are stored as interrupted`)
      this.#deps.hub.interruptAll()
      await Promise.allSettled([...this.#running])
    }
  }

  /**
   * Starts a run for a question. With an Idempotency-Key already used in this conversation, joins that
   * run instead (nothing charged, nothing stored); with another request under it, 422.
   */
  async start(userId: string, conversationId: string, question: string, log: FastifyBaseLogger, idempotency?: Idempotency): Promise<RunHandle> {
    const { messages, runs } = this.#deps
    const joined = idempotency && (await this.#join(userId, conversationId, idempotency))
    if (joined) return joined
    const { chosen, unit, refund } = await this.#admit(userId, conversationId, log)
    const settings = resolveCouncil(chosen, this.#deps.llm)
    const run = { id: randomUUID(), council: councilRecord(settings), idempotencyKey: idempotency?.key, requestHash: idempotency?.hash }
    let position: Awaited<ReturnType<MessagesRepo['startRun']>>
    try {
      position = await messages.startRun(userId, conversationId, question, this.leaseMs, run)
    } catch (error) {
      await refund()
      throw error
    }
    if (typeof position !== 'number') {
      await refund()
      // A request with the same key got there first (or holds the conversation now): this one joins it.
      const raced = idempotency && (await runs.byKey(userId, conversationId, idempotency.key))
      if (raced) return this.#joined(raced, idempotency)
      if (position === null) throw notFound('conversation not found')
      throw busy()
    }
    const plan: RunPlan = { question, questionPosition: position, answerPosition: null, settings }
    this.#launch(userId, conversationId, run.id, unit.day, async () => plan, log)
    return { id: run.id, conversationId, joined: false }
  }

  /**
   * Runs again what failed in the answer at `position` and updates it in place: the members that did not
   * answer (and the reviews and synthesis that depend on them), else the reviewers that failed, else the
   * chairman; with the council that answer recorded. An answer with nothing in stage 1 is asked again in
   * full, by the conversation's council now. 409 when the answer has nothing to retry.
   */
  async retry(userId: string, conversationId: string, position: number, log: FastifyBaseLogger): Promise<RunHandle> {
    const { messages, llm } = this.#deps
    if (this.#draining) throw shuttingDown()
    const target = await messages.retryTarget(userId, conversationId, position)
    if (!target) throw notFound(`this conversation has no answer at position ${position}`)
    if (!retryable(target.answer)) throw nothingToRetry()
    const { chosen, unit, refund } = await this.#admit(userId, conversationId, log)
    const fresh = (target.answer.stage1 ?? []).length === 0 || !target.answer.metadata?.council
    const settings = fresh ? resolveCouncil(chosen, llm) : settingsOf(target.answer.metadata!.council!)
    const run = { id: randomUUID(), council: councilRecord(settings) }
    const taken = await messages.takeRun(userId, conversationId, this.leaseMs, run, target.questionPosition, position).catch(async (error: unknown) => {
      await refund()
      throw error
    })
    if (taken !== true) {
      await refund()
      throw taken === 'busy' ? busy() : notFound('conversation not found')
    }
    const plan = async (): Promise<RunPlan> => {
      // Read again under the run's hold: another retry may have finished since the first look.
      const held = await messages.retryTarget(userId, conversationId, position)
      if (!held || !retryable(held.answer)) throw nothingToRetry()
      return { question: held.question, questionPosition: held.questionPosition, answerPosition: position, settings, prior: held.answer }
    }
    this.#launch(userId, conversationId, run.id, unit.day, plan, log)
    return { id: run.id, conversationId, joined: false }
  }

  /** Every event of a run after `after`, live, until its end (or until `signal` aborts). */
  follow(run: Pick<RunHandle, 'id' | 'conversationId'>, after: number, onEvent: (stored: StoredEvent) => void, signal: AbortSignal): Promise<void> {
    return this.#deps.hub.follow(run.id, after, onEvent, signal, async () => (await this.#endOf(run)) as RunEvent | null)
  }

  /** Waits for a run to end: its answer, or the HttpError its end says (502 failed, 409 cancelled, 503 interrupted). */
  async result(userId: string, run: RunHandle, signal: AbortSignal): Promise<CouncilAnswer> {
    let end: RunEndEvent | undefined
    // Taken as the run ends, before the hub forgets it: a run of this instance needs no read of its answer.
    let stored: unknown = null
    const live = this.#deps.hub.local(run.id)
    await this.follow(run, 0, ({ event }) => event.type === 'run_end' && ((end = event as unknown as RunEndEvent), (stored = live?.answer ?? null)), signal)
    if (!end) throw new HttpError(503, 'the request ended before the run did')
    if (end.error) throw new HttpError(end.error.statusCode, end.error.message, { body: { ...end.error.body, run_id: run.id } })
    const answer = stored ?? (end.position === null ? null : await this.#deps.messages.answerAt(userId, run.conversationId, end.position))
    if (!answer) throw notFound('the conversation was deleted while the council answered')
    return answer as CouncilAnswer
  }

  /**
   * Stops a run of the user's, on whichever instance runs it (at once here, at its next notification
   * or heartbeat elsewhere), and resolves with the run once it has ended; what was finished is kept.
   * A run that has already ended is returned as it is.
   */
  async cancel(userId: string, conversationId: string, runId: string, signal: AbortSignal): Promise<RunRow> {
    const { runs, hub } = this.#deps
    if (await runs.requestCancel(userId, conversationId, runId)) {
      hub.cancel(runId)
      await this.follow({ id: runId, conversationId }, 0, () => {}, signal)
    }
    const run = await runs.get(userId, conversationId, runId)
    if (!run) throw notFound('run not found')
    return run
  }


  /** Stores what a run whose instance died had, as an interrupted answer, and tells its followers it ended. */
  async storeInterrupted(run: StaleRun): Promise<void> {
    const { runs, messages, usage } = this.#deps
    const events = await runs.allEvents(run.id)
    const end: RunEnd = { id: run.id, state: 'interrupted' }
    let position: number | null = run.answerPosition
    if (run.answerPosition === null) {
      // A new question: what it had becomes its answer. A retry keeps the answer it was retrying.
      const answer = interruptedAnswer(events.map((stored) => stored.event), run.council, run.questionPosition)
      position = await messages.appendAnswer(run.userId, run.conversationId, answer, end)
    } else {
      await messages.endRun(run.userId, run.conversationId, end)
    }
    await usage.refund(run.userId, run.day)
    const last = events.at(-1)?.id ?? 0
    const event: RunEndEvent = { type: 'run_end', run_id: run.id, state: 'interrupted', position, error: interruptedError(position, 'the server running it stopped') }
    await runs.appendEvents([{ runId: run.id, firstId: last + 1, events: [{ type: 'error', message: event.error!.message }, event] }])
  }

  /** What to tell a follower of a run that ended with no stored run_end (its events purged). */
  async #endOf(run: Pick<RunHandle, 'id' | 'conversationId'>): Promise<RunEndEvent | null> {
    const row = await this.#deps.runs.state(run.id)
    // A run is marked ended a moment before its last events are stored: until then they are awaited.
    if (!row || row.state === 'running' || row.ended_ms_ago === null || row.ended_ms_ago < LAST_EVENTS_MS) return null
    return { type: 'run_end', run_id: run.id, state: row.state, position: row.answer_position }
  }

  async #join(userId: string, conversationId: string, idempotency: Idempotency): Promise<RunHandle | null> {
    const existing = await this.#deps.runs.byKey(userId, conversationId, idempotency.key)
    return existing ? this.#joined(existing, idempotency) : null
  }

  #joined(existing: { id: string; conversation_id: string; request_hash: string | null }, idempotency: Idempotency): RunHandle {
    if (existing.request_hash !== idempotency.hash) {
      throw new HttpError(422, 'this Idempotency-Key was used with another request in this conversation; use a new key for a new question')
    }
    return { id: existing.id, conversationId: existing.conversation_id, joined: true }
  }

  /** The checks and the allowance every run passes first: the conversation's council, and a unit taken. */
  async #admit(userId: string, conversationId: string, log: FastifyBaseLogger) {
    if (this.#draining) throw shuttingDown()
    const { conversations, usage } = this.#deps
    // One after the other: a request for a conversation that is not the caller's writes nothing at all.
    const found = await conversations.council(userId, conversationId)
    if (!found) throw notFound('conversation not found')
    const unit = await usage.consume(userId)
    if (!unit.granted) throw await this.#limitReached(userId, unit)
    const refund = () =>
      usage.refund(userId, unit.day).catch((error: unknown) => log.error({ err: error, userId }, 'refund failed'))
    return { chosen: found.council, unit, refund }
  }

  /** 429 for the query limits, or for the tier's monthly cost budget when no query limit is reached. */
  async #limitReached(userId: string, unit: ConsumeResult): Promise<HttpError> {
    if (exhausted(unit.usage)) return limitReached(unit)
    const { month } = await this.#deps.usage.tokens(userId)
    const budget = this.#deps.usage.costLimit(unit.usage.tier)
    return new HttpError(
      429,
      `monthly cost budget of ${budget} reached (${unit.usage.tier} tier, ${month.cost} spent); it resets at ${unit.usage.monthly_resets_at}`,
      { headers: { 'retry-after': secondsUntil(unit.usage.monthly_resets_at, unit.now) }, body: { usage: unit.usage, code: 'COST_BUDGET_REACHED' } }
    )
  }

  /**
   * Runs in the background, kept for shutdown to wait on. Its events go to the hub; it ends with a
   * `run_end` whatever happens. One that fails without an answer gives its unit back and frees the conversation.
   */
  #launch(userId: string, conversationId: string, runId: string, day: string, plan: () => Promise<RunPlan>, log: FastifyBaseLogger): void {
    const { messages, usage, hub } = this.#deps
    const live = hub.open(runId)
    live.emit({ type: 'run_start', run_id: runId })
    const work = (async () => {
      let end: RunEndEvent
      try {
        end = await this.#finish(userId, conversationId, await plan(), live, day, log)
      } catch (error) {
        if (!(error instanceof HttpError)) log.error({ err: error, runId }, 'council run failed')
        const state = live.stopReason ?? 'failed'
        await Promise.all([
          usage.refund(userId, day).catch((refundError: unknown) => log.error({ err: refundError, userId }, 'refund failed')),
          messages.endRun(userId, conversationId, { id: runId, state }).catch((endError: unknown) => log.error({ err: endError }, 'could not end the run'))
        ])
        const reply = live.stopReason === 'interrupted' ? shuttingDown() : error instanceof HttpError ? error : new HttpError(500, 'Internal Server Error')
        end = { type: 'run_end', run_id: runId, state, position: null, error: { statusCode: reply.statusCode, message: reply.message, body: reply.body } }
      }
      if (end.error) live.emit({ type: 'error', message: end.error.message })
      live.emit(end as unknown as RunEvent)
      await hub.close(live)
    })()
    this.#running.add(work)
    const forget = () => this.#running.delete(work)
    work.then(forget, forget)
  }

  /** How long a run holds its conversation at most: every stage's model calls timing out, the chairman's stand-ins too. */
  get leaseMs(): number {
    return this.#deps.llm.timeoutMs * 5 + 60_000
  }

  async #finish(userId: string, conversationId: string, plan: RunPlan, live: LiveRun, day: string, log: FastifyBaseLogger): Promise<RunEndEvent> {
    const { conversations, messages, usage, client, llm } = this.#deps
    const { question, questionPosition } = plan
    const signal = live.controller.signal
    const onEvent = (event: AskEvent) => live.emit(event as RunEvent)
    const calls: CallUsage[] = []
    const past = questionPosition === 0 ? [] : await messages.history(conversationId, questionPosition)
    // A conversation's first question titles it (follow-ups sent before it do not count).
    const first = plan.answerPosition === null && !past.some((message) => message.role === 'user' && message.kind === 'question')
    let title: ReturnType<typeof generateTitle> | null = null
    const storeTitle = async () => {
      if (!title) return
      const { title: text, error, call } = await title
      calls.push(call)
      if (error) logModelErrors(log, [error])
      // A rename made while the council ran wins over the generated title.
      if (await conversations.setGeneratedTitle(userId, conversationId, text)) onEvent({ type: 'title_complete', data: { title: text } })
    }

    // Which question this answers, in the stored answer itself (and so in stage3_complete's metadata).
    const emit = (event: AskEvent) => {
      if (event.type === 'stage3_complete') event.metadata.question_position = questionPosition
      onEvent(event)
    }
    const context = buildContext(past, llm.contextChars)
    const running = runCouncil(question, { client, settings: plan.settings, context, onEvent: emit, signal }, plan.prior)
    // Asked after the members: their first words, not the title, are what the user waits for.
    if (first) title = generateTitle(question, client, llm.titleModel, signal)
    const answer = await running
    answer.metadata.question_position = questionPosition
    const made = answer.metadata.calls.filter((call) => call.attempt === answer.metadata.attempts)
    // A stop leaves its aborted calls' errors out of the log: they are not the models' failures.
    if (!live.stopReason) logModelErrors(log, answer.metadata.errors.filter((error) => made.some((call) => call.failed && call.model === error.model && call.stage === error.stage)))
    calls.push(...made)
    if (answer.metadata.status === 'failed' && live.stopReason) answer.metadata.status = live.stopReason
    const status = answer.metadata.status
    const state = status === 'complete' || status === 'degraded' ? 'complete' : status
    const run: RunEnd = { id: live.id, state }

    let position: number | null
    if (plan.answerPosition === null) position = await messages.appendAnswer(userId, conversationId, answer, run)
    else if (live.stopReason) {
      // A retry stopped part way keeps the answer it was retrying as it was: nothing of it is lost.
      await messages.endRun(userId, conversationId, run)
      position = plan.answerPosition
    } else position = (await messages.replaceAnswer(userId, conversationId, plan.answerPosition, answer, run)) ? plan.answerPosition : null
    await storeTitle()
    await usage.addTokens(userId, totals(calls)).catch((error: unknown) => log.error({ err: error, userId }, 'could not add the run\'s tokens to the user\'s totals'))
    if (position === null) throw notFound('the conversation was deleted while the council answered; the answer was not stored')
    const end: RunEndEvent = { type: 'run_end', run_id: live.id, state, position }
    live.answer = answer
    if (state === 'complete') {
      onEvent({ type: 'complete' })
      return end
    }
    // A cancel after a model had answered keeps the unit; every other unfinished run gives it back.
    const answeredNow = made.some((call) => call.stage === 'stage1' && !call.failed)
    if (state !== 'cancelled' || !answeredNow) await usage.refund(userId, day).catch((error: unknown) => log.error({ err: error, userId }, 'refund failed'))
    if (state === 'failed') {
      end.error = { statusCode: 502, message: `The council could not answer: ${failureSummary(answer)}`, body: { errors: answer.metadata.errors, position } }
    } else if (state === 'cancelled') {
      end.error = { statusCode: 409, message: 'the run was cancelled; what was finished is kept', body: { position, code: 'RUN_CANCELLED' } }
    } else {
      end.error = interruptedError(position, 'server shutting down')
    }
    return end
  }
}

function interruptedError(position: number | null, why: string): RunEndEvent['error'] {
  return { statusCode: 503, message: `${why}: the run was interrupted; what it had is kept, and it can be retried`, body: { position, code: 'RUN_INTERRUPTED' } }
}

// How long after a run ends its last events may still be on their way to the store: a flush every 250
// ms, but behind a backlog after thousands of runs at once (the bench saw over ten seconds). A follower
// elsewhere waits that long for them before it is told the end without them (their instance died, or
// they were purged an hour later).
const LAST_EVENTS_MS = 60_000

const nothingToRetry = () => new HttpError(409, 'this answer is complete: there is nothing to retry')

const busy = () =>
  new HttpError(409, 'the council is still answering the previous question in this conversation; ask again when it has answered')

function failureSummary({ stage1, metadata }: CouncilAnswer): string {
  const { models, min_answers } = metadata.council
  const reason =
    stage1.length === 0
      ? 'every council model failed'
      : stage1.length < min_answers
        ? `only ${stage1.length} of ${models.length} council models answered (at least ${min_answers} are needed)`
        : 'the chairman and its stand-ins failed'
  return `${reason}: ${metadata.errors.map((e) => `${e.model} (${e.status ?? 'no response'}: ${e.message})`).join('; ')}`
}

const shuttingDown = () => new HttpError(503, 'server shutting down', { headers: { 'retry-after': '5' } })

/** 429 with the figures and the seconds until a reset frees a unit. */
export function limitReached({ usage, now }: ConsumeResult): HttpError {
  const out = exhausted(usage)
  const monthlyOut = out?.monthly ?? false
  const resetsAt = Math.max(
    out?.daily ? Date.parse(usage.daily_resets_at) : 0,
    monthlyOut ? Date.parse(usage.monthly_resets_at) : 0
  )
  return new HttpError(429, limitMessage(usage, monthlyOut), {
    headers: { 'retry-after': secondsUntil(resetsAt, now) },
    body: { usage }
  })
}

/** Retry-After: whole seconds from the database's `now` until `time`, at least 1. */
function secondsUntil(time: string | number, now: string): string {
  return String(Math.max(1, Math.ceil(((typeof time === 'number' ? time : Date.parse(time)) - Date.parse(now)) / 1000)))
}

function limitMessage(usage: UsageFigures, monthly: boolean): string {
  return monthly
    ? `monthly limit of ${usage.monthly_limit} queries reached (${usage.tier} tier); it resets at ${usage.monthly_resets_at}`
    : `daily limit of ${usage.daily_limit} queries reached (${usage.tier} tier); it resets at ${usage.daily_resets_at}`
}

function logModelErrors(log: FastifyBaseLogger, errors: ModelError[]): void {
  for (const error of errors) log.warn({ modelError: error }, `model call failed: ${error.model} (${error.stage})`)
}
