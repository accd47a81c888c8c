import type { CouncilAnswer } from './council.ts'
import type { CouncilRecord, ModelError, Stage1Result, Stage2Result, Stage3Result } from './types.ts'
import { totals } from './usage.ts'

/** What a run has so far, read from its events: each finished answer and review, and the synthesis as far as it got. */
export interface RunProgress {
  stage1: Stage1Result[]
  stage2: Stage2Result[]
  stage3: Stage3Result | null
  /** Each member's text so far, while it writes. */
  stage1_text: Record<string, string>
  /** The synthesis so far, and who is writing it. */
  stage3_text: { model: string; text: string } | null
  errors: ModelError[]
  metadata: Record<string, unknown> | null
}

type Event = { type: string } & Record<string, unknown>

/** Reads a run's events, in order, into what it had. */
export function progressOf(events: Event[]): RunProgress {
  const progress: RunProgress = { stage1: [], stage2: [], stage3: null, stage1_text: {}, stage3_text: null, errors: [], metadata: null }
  for (const event of events) {
    switch (event.type) {
      case 'stage1_delta': {
        const model = event.model as string
        progress.stage1_text[model] = (progress.stage1_text[model] ?? '') + (event.text as string)
        break
      }
      case 'stage1_model_complete':
        progress.stage1.push(event.data as Stage1Result)
        delete progress.stage1_text[(event.data as Stage1Result).model]
        break
      case 'stage1_model_failed':
        progress.errors.push(event.data as ModelError)
        delete progress.stage1_text[(event.data as ModelError).model]
        break
      case 'stage2_model_complete':
        progress.stage2.push(event.data as Stage2Result)
        break
      case 'stage2_complete':
        progress.stage2 = event.data as Stage2Result[]
        progress.metadata = event.metadata as Record<string, unknown>
        break
      case 'stage3_delta': {
        const model = event.model as string
        const sofar = progress.stage3_text?.model === model ? progress.stage3_text.text : ''
        progress.stage3_text = { model, text: sofar + (event.text as string) }
        break
      }
      case 'stage3_complete':
        progress.stage3 = event.data as Stage3Result
        progress.stage3_text = null
        break
    }
  }
  return progress
}

/**
 * The answer stored for a run whose instance died: what had finished, in the council's order, with
 * status `interrupted` so it can be retried like a failed one. No synthesis unless it was finished.
 */
export function interruptedAnswer(events: Event[], council: CouncilRecord, questionPosition: number): CouncilAnswer {
  const progress = progressOf(events)
  const order = (model: string) => council.models.indexOf(model)
  const stage1 = [...progress.stage1].sort((a, b) => order(a.model) - order(b.model))
  const answered = new Set(stage1.map((answer) => answer.model))
  const stage2 = progress.stage2.filter((review) => answered.has(review.model)).sort((a, b) => order(a.model) - order(b.model))
  return {
    stage1,
    stage2,
    stage3: progress.stage3,
    metadata: {
      ...(progress.metadata ?? {}),
      label_to_model: (progress.metadata?.label_to_model as Record<string, string> | undefined) ?? {},
      aggregate_rankings: (progress.metadata?.aggregate_rankings as never) ?? [],
      errors: progress.errors,
      status: 'interrupted',
      council,
      // Its calls' tokens were never reported: the instance that made them died.
      calls: [],
      usage: totals([]),
      attempts: 1,
      missing: council.models.filter((model) => !answered.has(model)),
      question_position: questionPosition
    }
  }
}
