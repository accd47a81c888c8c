import t from 'tap'
import { aggregateRankings, bordaCount, kendallW, parseRanking, relabel, shuffledOrder } from '../../src/council/ranking.ts'

const LABELS = ['Response A', 'Response B', 'Response C', 'Response D']

t.test('the requested format', async (t) => {
  t.same(parseRanking('A is good.\n\nFINAL RANKING:\n1. Response C\n2. Response A\n3. Response B', LABELS), [
    'Response C',
    'Response A',
    'Response B'
  ])
})

t.test('messy real-world outputs', async (t) => {
  const cases: [string, string, string[]][] = [
    ['missing header', 'I would put Response B first, then Response A, and Response C last.', ['Response B', 'Response A', 'Response C']],
    ['prose after the list', 'FINAL RANKING:\n1. Response A\n2. Response C\n3. Response B\n\nOverall Response B was weakest, unlike Response A.', ['Response A', 'Response C', 'Response B']],
    ['evaluation mentions labels before the header', 'Response C is best. Response A is fine.\nFINAL RANKING:\n1. Response B\n2. Response C\n3. Response A', ['Response B', 'Response C', 'Response A']],
    ['duplicates', 'FINAL RANKING:\n1. Response A\n2. Response A\n3. Response B\n4. Response C', ['Response A', 'Response B', 'Response C']],
    ['lowercase labels and header', 'final ranking:\n1. response b\n2. response a\n3. response c', ['Response B', 'Response A', 'Response C']],
    ['markdown bold', '**FINAL RANKING:**\n1. **Response C**\n2. **Response B**\n3. **Response A**', ['Response C', 'Response B', 'Response A']],
    ['bold whole line and parenthesis numbers', '## Final Ranking\n**1) Response B**\n**2) Response C**\n**3) Response A**', ['Response B', 'Response C', 'Response A']],
    ['explanations on the ranking lines', 'FINAL RANKING:\n1. Response A - the most complete\n2. Response B: accurate\n3. Response C (too short)', ['Response A', 'Response B', 'Response C']],
    ['bullets', 'FINAL RANKING:\n- Response C\n- Response A\n- Response B', ['Response C', 'Response A', 'Response B']],
    ['inline after the header', 'FINAL RANKING: Response B > Response A > Response C', ['Response B', 'Response A', 'Response C']],
    ['the header twice (the example echoed first)', 'FINAL RANKING:\n1. Response C\n\nMy evaluation...\n\nFINAL RANKING:\n1. Response A\n2. Response B', ['Response A', 'Response B']],
    ['a label that was never shown', 'FINAL RANKING:\n1. Response E\n2. Response A\n3. Response B', ['Response A', 'Response B']],
    ['the word responses is not a label', 'All responses were good. Response B edges out Response A.', ['Response B', 'Response A']],
    ['nothing usable', 'I cannot rank these.', []],
    ['empty', '', []]
  ]
  for (const [name, text, expected] of cases) t.same(parseRanking(text, LABELS), expected, name)
  t.same(parseRanking('FINAL RANKING:\n1. Response Z\n2. Response A'), ['Response Z', 'Response A'], 'without a label list any letter counts')
})

t.test('aggregate rankings average the positions, with or without self-votes', async (t) => {
  const rankings = [
    { reviewer: 'm/a', ranked: ['m/b', 'm/a', 'm/c'] },
    { reviewer: 'm/b', ranked: ['m/b', 'm/c', 'm/a'] },
    { reviewer: 'm/c', ranked: ['m/a', 'm/b'] }
  ]
  t.same(aggregateRankings(rankings), [
    { model: 'm/b', average_rank: 1.33, rankings_count: 3 },
    { model: 'm/a', average_rank: 2, rankings_count: 3 },
    { model: 'm/c', average_rank: 2.5, rankings_count: 2 }
  ])
  // Without self-votes: m/a's ranking is [b, c], m/b's [c, a], m/c's [a, b].
  t.same(aggregateRankings(rankings, true), [
    { model: 'm/b', average_rank: 1.5, rankings_count: 2 },
    { model: 'm/c', average_rank: 1.5, rankings_count: 2 },
    { model: 'm/a', average_rank: 1.5, rankings_count: 2 }
  ], 'a tie keeps the order models were first ranked in')
  t.same(aggregateRankings([]), [])
})

t.test('Borda count and Kendall W on known inputs', async (t) => {
  const rankings = [
    { reviewer: 'r1', ranked: ['a', 'b', 'c', 'd'] },
    { reviewer: 'r2', ranked: ['a', 'c', 'b', 'd'] },
    { reviewer: 'r3', ranked: ['b', 'a', 'c', 'd'] }
  ]
  t.same(bordaCount(rankings), [
    { model: 'a', points: 8, rankings_count: 3 },
    { model: 'b', points: 6, rankings_count: 3 },
    { model: 'c', points: 4, rankings_count: 3 },
    { model: 'd', points: 0, rankings_count: 3 }
  ])
  // Rank sums 4, 6, 8, 12 against a mean of 7.5: S = 35, W = 12 * 35 / (9 * 60).
  t.same(kendallW(rankings, ['a', 'b', 'c', 'd']), { method: 'kendall_w', value: 0.778, reviewers: 3, answers: 4 })
  t.same(kendallW(rankings.slice(0, 1).concat(rankings.slice(0, 1)), ['a', 'b', 'c', 'd']).value, 1, 'identical rankings agree fully')
  t.same(kendallW([{ reviewer: 'x', ranked: ['a', 'b'] }, { reviewer: 'y', ranked: ['b', 'a'] }], ['a', 'b']).value, 0, 'opposite rankings not at all')
  t.same(kendallW([...rankings, { reviewer: 'r4', ranked: ['a'] }], ['a', 'b', 'c', 'd']).reviewers, 3, 'an incomplete ranking is left out')
  t.same(kendallW(rankings.slice(0, 1), ['a', 'b', 'c', 'd']), { method: 'kendall_w', value: null, reviewers: 1, answers: 4 }, 'one reviewer: no measure')
  // A partial ranking gives points only to what it ranks; self-votes out, each reviewer ranks the others.
  t.same(bordaCount([{ reviewer: 'a', ranked: ['a', 'b', 'c'] }], true), [
    { model: 'b', points: 1, rankings_count: 1 },
    { model: 'c', points: 0, rankings_count: 1 }
  ])
})

t.test('relabel rewrites a reviewer\'s labels to the conversation-wide ones, keeping case and unknown labels', async (t) => {
  const mapping = { 'Response A': 'Response C', 'Response B': 'Response A', 'Response C': 'Response B' }
  t.equal(
    relabel('Response A beats response b; Response Z is made up.\nFINAL RANKING:\n1. Response A\n2. Response C\n3. response b', mapping),
    'Response C beats response a; Response Z is made up.\nFINAL RANKING:\n1. Response C\n2. Response B\n3. response a'
  )
  const order = shuffledOrder(6)
  t.same([...order].sort(), [0, 1, 2, 3, 4, 5], 'a shuffle is a permutation')
})
