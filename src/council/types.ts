// The shapes llm-council stores for an assistant message (kept as JSONB): what the council produces.
export interface Stage1Result {
  model: string
  response: string
}

export interface Stage2Result {
  model: string
  ranking: string
  parsed_ranking: string[]
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

export interface ModelError {
  model: string
  stage: string
  status: number | null
  message: string
}

export interface AssistantMetadata {
  label_to_model?: Record<string, string>
  aggregate_rankings?: AggregateRanking[]
  errors?: ModelError[]
  chairman_fallback?: { failed_model: string; used_model: string }
  [key: string]: unknown
}

/** An assistant message's stored parts: what llm-council keeps for each answer. */
export interface AssistantStages {
  stage1: Stage1Result[] | null
  stage2: Stage2Result[] | null
  stage3: Stage3Result | null
  metadata: AssistantMetadata | null
}
