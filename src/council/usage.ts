import type { CallUsage, UsageTotals } from './types.ts'

// Costs are summed in millionths, so adding many small prices gives the exact total a database would.
const MICROS = 1_000_000

/** The calls' tokens and cost summed; a call whose provider reported nothing counts as unknown, never as zero. */
export function totals(calls: CallUsage[]): UsageTotals {
  let prompt = 0
  let completion = 0
  let micros = 0
  let unknown = 0
  for (const call of calls) {
    if (!call.failed && call.prompt_tokens === null && call.completion_tokens === null && call.cost === null) unknown++
    prompt += call.prompt_tokens ?? 0
    completion += call.completion_tokens ?? 0
    micros += Math.round((call.cost ?? 0) * MICROS)
  }
  return { prompt_tokens: prompt, completion_tokens: completion, cost: micros / MICROS, calls: calls.length, unknown_calls: unknown }
}
