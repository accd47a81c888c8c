import t from 'tap'
import { aggregateRankings, parseRanking } from '../../src/council/ranking.ts'

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

t.test('aggregate rankings average the positions', async (t) => {
  const labelToModel = { 'Response A': 'm/a', 'Response B': 'm/b', 'Response C': 'm/c' }
  const rankings = [
    { model: 'm/a', ranking: '', parsed_ranking: ['Response B', 'Response A', 'Response C'] },
    { model: 'm/b', ranking: '', parsed_ranking: ['Response B', 'Response C', 'Response A'] },
    { model: 'm/c', ranking: '', parsed_ranking: ['Response A', 'Response B'] }
  ]
  t.same(aggregateRankings(rankings, labelToModel), [
    { model: 'm/b', average_rank: 1.33, rankings_count: 3 },
    { model: 'm/a', average_rank: 2, rankings_count: 3 },
    { model: 'm/c', average_rank: 2.5, rankings_count: 2 }
  ])
  t.same(aggregateRankings([], labelToModel), [])
  t.same(aggregateRankings([{ model: 'x', ranking: '', parsed_ranking: ['Response Q'] }], labelToModel), [], 'unknown labels are ignored')
})
