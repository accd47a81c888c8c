import type { AggregateRanking, Stage2Result } from './types.ts'

const LABEL = /\bresponse\s+([a-z])\b/gi
const HEADER = /final\s+ranking\s*:?/gi
// A list item naming a label: "1. Response A", "2) **response b**", "#3: Response C", "- Response D".
const LIST_ITEM = /^[\s*_]*(?:#?\d+\s*[.):-]|[-*•])[\s*_]*response\s+([a-z])\b/gim

/** "Response X" for each letter, first occurrence only, limited to the labels that were shown. */
function uniqueLabels(matches: Iterable<RegExpMatchArray>, valid?: ReadonlySet<string>): string[] {
  const seen = new Set<string>()
  for (const match of matches) {
    const label = `Response ${match[1]!.toUpperCase()}`
    if (!valid || valid.has(label)) seen.add(label)
  }
  return [...seen]
}

/**
 * The ranking a model gave, best first, as "Response X" labels. Models format it in many ways:
 * `FINAL RANKING:` in any case, bold or not, `1.`/`1)`/`#1`/bullets, lowercase labels, prose
 * around it, a label twice. Labels after the last header win; without a header, labels in the
 * order they are first named. Duplicates keep their first place; labels not shown are dropped.
 */
export function parseRanking(text: string, validLabels?: Iterable<string>): string[] {
  const valid = validLabels ? new Set(validLabels) : undefined
  const headers = [...text.matchAll(HEADER)]
  const last = headers.at(-1)
  if (last) {
    const section = text.slice(last.index + last[0].length)
    const listed = uniqueLabels(section.matchAll(LIST_ITEM), valid)
    if (listed.length > 0) return listed
    const named = uniqueLabels(section.matchAll(LABEL), valid)
    if (named.length > 0) return named
  }
  return uniqueLabels(text.matchAll(LABEL), valid)
}

/** Average position of each model over every ranking that placed it; best (lowest) first. */
export function aggregateRankings(
  rankings: Stage2Result[],
  labelToModel: Record<string, string>
): AggregateRanking[] {
  const positions = new Map<string, number[]>()
  for (const { parsed_ranking } of rankings) {
    parsed_ranking.forEach((label, index) => {
      const model = labelToModel[label]
      if (!model) return
      positions.set(model, [...(positions.get(model) ?? []), index + 1])
    })
  }
  return [...positions]
    .map(([model, ranks]) => ({
      model,
      average_rank: Math.round((ranks.reduce((sum, rank) => sum + rank, 0) / ranks.length) * 100) / 100,
      rankings_count: ranks.length
    }))
    .sort((a, b) => a.average_rank - b.average_rank || b.rankings_count - a.rankings_count)
}
