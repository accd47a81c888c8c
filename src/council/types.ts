// The shapes llm-council stores for an assistant message (kept as JSONB): what the council produces.
// Everything beyond llm-council's own fields is an addition, so its frontend reads these unchanged.
export interface Stage1Result {
  model: string
  response: string
}

export interface Stage2Result {
  model: string
  /** The review as written, its labels rewritten to the conversation-wide ones of `metadata.label_to_model`. */
  ranking: string
  /** Best first, in the conversation-wide labels; the reviewer's own answer included, as it voted. */
  parsed_ranking: string[]
  /** The labels this reviewer saw, in the order it saw them, each mapped to the conversation-wide label. */
  reviewer_labels?: Record<string, string>
  /** Labels the ranking named that this reviewer was never shown. */
  unknown_labels?: string[]
}

export interface Stage3Result {
  model: string
  response: string
}

export interface AggregateRanking {
  model: string
  average_rank: number
  rankings_count: number
}

export interface BordaScore {
  model: string
  points: number
  rankings_count: number
}

/** How much the reviewers agree (Kendall's W over the reviewers that ranked every answer): 0 none, 1 complete. */
export interface Agreement {
  method: 'kendall_w'
  value: number | null
  reviewers: number
  answers: number
}

export interface ModelError {
  model: string
  stage: string
  status: number | null
  message: string
}

/** What a provider said one call used; null fields when it did not say (never guessed). */
export interface CallUsage {
  model: string
  stage: string
  prompt_tokens: number | null
  completion_tokens: number | null
  /** In the provider's currency units (OpenRouter: US dollars); null when it reports none. */
  cost: number | null
  /** 1 for the first run, 2 for the first retry... */
  attempt: number
  /** The call failed (its error is in `errors`); providers do not charge for those. */
  failed?: true
}

export interface UsageTotals {
  prompt_tokens: number
  completion_tokens: number
  cost: number
  calls: number
  /** Calls whose provider reported no usage: the totals leave them out. */
  unknown_calls: number
}

/** Exactly what produced an answer. */
export interface CouncilRecord {
  preset: string | null
  models: string[]
  chairman: string
  stage2: boolean
  system_prompt: string | null
  prompts_version: number
  min_answers: number
  exclude_self_votes: boolean
}

/** Which earlier turns the models were shown. */
export interface ContextRecord {
  policy: 'newest_first_within_budget'
  budget_chars: number
  chars: number
  turns_included: number
  turns_dropped: number
}

/** `cancelled`: its user stopped it; `interrupted`: its server stopped or died. Both keep what was finished and can be retried. */
export type AnswerStatus = 'complete' | 'degraded' | 'failed' | 'cancelled' | 'interrupted'

export interface AssistantMetadata {
  label_to_model?: Record<string, string>
  aggregate_rankings?: AggregateRanking[]
  errors?: ModelError[]
  chairman_fallback?: { failed_model: string; used_model: string }
  status?: AnswerStatus
  /** Council members with no answer in stage 1 (degraded or failed). */
  missing?: string[]
  aggregate_borda?: BordaScore[]
  agreement?: Agreement
  council?: CouncilRecord
  context?: ContextRecord
  calls?: CallUsage[]
  usage?: UsageTotals
  attempts?: number
  [key: string]: unknown
}

/** An assistant message's stored parts: what llm-council keeps for each answer. */
export interface AssistantStages {
  stage1: Stage1Result[] | null
  stage2: Stage2Result[] | null
  stage3: Stage3Result | null
  metadata: AssistantMetadata | null
}
