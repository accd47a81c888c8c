import type { AggregateRanking, Agreement, BordaScore } from './types.ts'

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

/** One reviewer's ranking, resolved to models, best first. */
export interface ReviewerRanking {
  reviewer: string
  ranked: string[]
}

/** Each reviewer's ranking with its own answer taken out when `excludeSelf` (the others move up a place). */
function counted(rankings: ReviewerRanking[], excludeSelf: boolean): string[][] {
  return rankings.map(({ reviewer, ranked }) => (excludeSelf ? ranked.filter((model) => model !== reviewer) : ranked))
}

const round = (value: number, places: number) => Math.round(value * 10 ** places) / 10 ** places

/**
 * Mean position of each model over every ranking that placed it; best (lowest) first, ties broken
 * by more rankings. With `excludeSelf`, a reviewer's vote for its own answer does not count.
 */
export function aggregateRankings(rankings: ReviewerRanking[], excludeSelf = false): AggregateRanking[] {
  const positions = new Map<string, number[]>()
  for (const ranked of counted(rankings, excludeSelf)) {
    ranked.forEach((model, index) => positions.set(model, [...(positions.get(model) ?? []), index + 1]))
  }
  return [...positions]
    .map(([model, ranks]) => ({
      model,
      average_rank: round(ranks.reduce((sum, rank) => sum + rank, 0) / ranks.length, 2),
      rankings_count: ranks.length
    }))
    .sort((a, b) => a.average_rank - b.average_rank || b.rankings_count - a.rankings_count)
}

/**
 * Borda count: in a ranking of k models the first gets k-1 points, the last 0; a model a ranking left
 * out gets nothing from it. Most points first.
 */
export function bordaCount(rankings: ReviewerRanking[], excludeSelf = false): BordaScore[] {
  const scores = new Map<string, BordaScore>()
  for (const ranked of counted(rankings, excludeSelf)) {
    ranked.forEach((model, index) => {
      const score = scores.get(model) ?? { model, points: 0, rankings_count: 0 }
      score.points += ranked.length - 1 - index
      score.rankings_count += 1
      scores.set(model, score)
    })
  }
  return [...scores.values()].sort((a, b) => b.points - a.points || b.rankings_count - a.rankings_count)
}

/**
 * Kendall's coefficient of concordance over the reviewers that ranked all `answers` (self-votes
 * included: it measures what reviewers said). W = 12 S / (m^2 (n^3 - n)); null with fewer than two
 * such reviewers or answers.
 */
export function kendallW(rankings: ReviewerRanking[], answers: string[]): Agreement {
  const complete = rankings.filter(({ ranked }) => ranked.length === answers.length && answers.every((model) => ranked.includes(model)))
  const m = complete.length
  const n = answers.length
  if (m < 2 || n < 2) return { method: 'kendall_w', value: null, reviewers: m, answers: n }
  const mean = (m * (n + 1)) / 2
  const s = answers.reduce((sum, model) => {
    const rankSum = complete.reduce((total, { ranked }) => total + ranked.indexOf(model) + 1, 0)
    return sum + (rankSum - mean) ** 2
  }, 0)
  return { method: 'kendall_w', value: round((12 * s) / (m * m * (n ** 3 - n)), 3), reviewers: m, answers: n }
}

/** A random order of 0..count-1 (Fisher-Yates). */
export function shuffledOrder(count: number, random: () => number = Math.random): number[] {
  const order = Array.from({ length: count }, (_, i) => i)
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  return order
}

/**
 * `text` with every "Response X" label a reviewer saw rewritten to the label `mapping` gives it, the
 * word's case kept; labels the mapping does not know are left as written.
 */
export function relabel(text: string, mapping: Record<string, string>): string {
  return text.replace(LABEL, (whole, letter: string) => {
    const target = mapping[`Response ${letter.toUpperCase()}`]
    if (!target) return whole
    const targetLetter = target.at(-1)!
    return whole.slice(0, -1) + (letter === letter.toLowerCase() ? targetLetter.toLowerCase() : targetLetter)
  })
}
