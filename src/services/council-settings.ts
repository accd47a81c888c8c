import { type Config, DEFAULT_PRESET } from '../config.ts'
import type { CouncilSettings } from '../council/council.ts'
import { badRequest } from '../errors.ts'

/** A conversation's own choice of council, as stored and as the API takes it; anything left out comes from the preset. */
export interface ChosenCouncil {
  preset?: string
  models?: string[]
  chairman?: string
  stage2?: boolean
}

type LlmConfig = Pick<Config['llm'], 'presets' | 'allowedModels' | 'minAnswers' | 'excludeSelfVotes'>

/** 400 unless every name is a known preset or an allowed model: users never pick models off the operator's list. */
export function checkChoice(choice: ChosenCouncil, llm: LlmConfig, path = 'body'): ChosenCouncil {
  if (choice.preset !== undefined && !llm.presets.has(choice.preset)) {
    throw badRequest(`${path}/preset: no preset is named "${choice.preset}" (GET /api/council lists them)`)
  }
  const allowed = new Set(llm.allowedModels)
  for (const model of [...(choice.models ?? []), ...(choice.chairman === undefined ? [] : [choice.chairman])]) {
    if (!allowed.has(model)) throw badRequest(`${path}: the model "${model}" is not allowed on this server (GET /api/council lists those that are)`)
  }
  const models = choice.models ?? llm.presets.get(choice.preset ?? DEFAULT_PRESET)!.models
  if (models.length < llm.minAnswers) {
    throw badRequest(`${path}/models: at least ${llm.minAnswers} models are needed (COUNCIL_MIN_ANSWERS)`)
  }
  return choice
}

/** The council a conversation's next question uses: its preset (or the default), with its own choices on top. */
export function resolveCouncil(choice: ChosenCouncil | null, llm: LlmConfig): CouncilSettings {
  // A preset removed from the configuration since it was chosen: the default council answers.
  const preset = llm.presets.get(choice?.preset ?? DEFAULT_PRESET) ?? llm.presets.get(DEFAULT_PRESET)!
  const allowed = new Set(llm.allowedModels)
  // Models taken off ALLOWED_MODELS since they were chosen are no longer asked.
  const models = choice?.models?.filter((model) => allowed.has(model)) ?? []
  const chairman = choice?.chairman !== undefined && allowed.has(choice.chairman) ? choice.chairman : preset.chairman
  return {
    preset: preset.name,
    models: models.length >= Math.max(1, llm.minAnswers) ? models : preset.models,
    chairman,
    stage2: choice?.stage2 ?? preset.stage2,
    systemPrompt: preset.systemPrompt,
    minAnswers: llm.minAnswers,
    excludeSelfVotes: llm.excludeSelfVotes
  }
}
