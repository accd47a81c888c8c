import fc from 'fast-check'
import t from 'tap'
import { SearchRepo } from '../../src/repos/search.ts'
import { eachBackend, openTestDatabase } from '../helpers/db.ts'
import { FUZZ, fuzzReport } from '../helpers/fuzz.ts'
import { type Exchange, storeConversation } from '../helpers/search.ts'

// Search is a new way to read data. Isolation, as a property: whatever the query, another user's
// conversations never show and never change what a user finds, even when they hold the same words.

const WORDS = ['apple', 'river', 'stone', 'cloud', 'garden', 'engine', 'violet', 'harbor']
const text = fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 8 }).map((words) => words.join(' '))
const exchange: fc.Arbitrary<Exchange> = fc.record({ question: text, answer: text, council: fc.array(text, { maxLength: 3 }) })
const conversation = fc.record({ title: text, exchanges: fc.array(exchange, { minLength: 1, maxLength: 3 }) })
const term = fc.oneof(
  fc.constantFrom(...WORDS),
  fc.constantFrom(...WORDS).map((w) => `-${w}`),
  fc.tuple(fc.constantFrom(...WORDS), fc.constantFrom(...WORDS)).map(([a, b]) => `"${a} ${b}"`),
  fc.constant('or')
)
const query = fc.array(term, { minLength: 1, maxLength: 2 }).map((terms) => terms.join(' '))

await eachBackend(t, async (t, backend) => {
  const database = await openTestDatabase(t, backend)
  const search = new SearchRepo(database.db, 'simple')
  let users = 0
  let cases = 0
  const outcomes = new Map<string, number>()

  await fc.assert(
    fc.asyncProperty(fc.array(conversation, { minLength: 1, maxLength: 4 }), fc.array(conversation, { minLength: 1, maxLength: 6 }), fc.array(query, { minLength: 1, maxLength: 5 }),
      async (mine, theirs, queries) => {
        const me = `me-${++users}`
        const own = new Set<string>()
        for (const c of mine) own.add(await storeConversation(database.db, me, c.title, c.exchanges))
        const before = await Promise.all(queries.map((q) => search.search(me, q, { limit: 50 })))
        // Others, with the same words, some of them more recent than all of mine.
        for (const [i, c] of theirs.entries()) await storeConversation(database.db, i % 2 ? `other-${users}` : `me-${users}x`, c.title, c.exchanges)
        const after = await Promise.all(queries.map((q) => search.search(me, q, { limit: 50 })))
        for (const [i, page] of after.entries()) {
          cases++
          outcomes.set(page.results.length ? 'found' : 'none', (outcomes.get(page.results.length ? 'found' : 'none') ?? 0) + 1)
          for (const result of page.results) if (!own.has(result.id)) throw new Error(`"${queries[i]}" found ${result.id}, not ${me}'s`)
          t.same(page, before[i], `"${queries[i]}": the same results with others' conversations stored`)
        }
      }),
    { seed: FUZZ.seed, numRuns: FUZZ.runs(25), endOnFailure: true }
  )
  fuzzReport(t, `${backend} search isolation`, cases, outcomes)
})
