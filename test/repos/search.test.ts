import t from 'tap'
import { SearchRepo, decodeSearchCursor } from '../../src/repos/search.ts'
import { eachBackend, openTestDatabase } from '../helpers/db.ts'
import { storeConversation } from '../helpers/search.ts'

const minutesAgo = (n: number) => new Date(Date.now() - n * 60_000).toISOString()

await eachBackend(t, async (t, backend) => {
  const database = await openTestDatabase(t, backend)
  const { db } = database
  const search = new SearchRepo(db, 'english')
  const find = async (q: string, userId = 'alice', limit = 20) => (await search.search(userId, q, { limit })).results

  const garden = await storeConversation(db, 'alice', 'Planning the vegetable garden', [
    { question: 'When should I plant tomatoes?', answer: 'Plant tomatoes after the last frost, in full sun.', council: ['Tomatoes like warm soil.'] }
  ], minutesAgo(30))
  const bread = await storeConversation(db, 'alice', 'Sourdough troubles', [
    { question: 'Why is my bread dense?', answer: 'Your starter may be weak; feed it twice a day.' },
    { question: 'And the crust?', answer: 'Bake with steam for a crisp crust. Tomatoes are not involved.' }
  ], minutesAgo(20))
  const cats = await storeConversation(db, 'alice', 'Cat questions', [
    { question: 'Do cats dream?', answer: 'Probably: they have REM sleep.', council: ['Cats sleep a lot, like a garden gnome.'] }
  ], minutesAgo(10))
  const bobs = await storeConversation(db, 'bob', 'Bob plants tomatoes in the garden', [
    { question: 'Tomatoes and garden frost?', answer: 'Cover the tomatoes.' }
  ], minutesAgo(1))

  t.test('a title match ranks above an answer match, and an answer match above a council-only one', async (t) => {
    const results = await find('garden')
    t.same(results.map((r) => [r.id, r.match]), [[garden, 'title'], [cats, 'council']])
    const tomatoes = await find('tomatoes')
    t.same(tomatoes.map((r) => [r.id, r.match, r.position]), [[bread, 'message', 3], [garden, 'message', 0]], 'most recent first within a group; the first matching message')
  })

  t.test('stemming under english: "planting" finds "plant"', async (t) => {
    t.same((await find('planting')).map((r) => r.id), [garden])
  })

  t.test('phrases, negation and or', async (t) => {
    t.same((await find('"full sun"')).map((r) => r.id), [garden], 'a phrase in order')
    t.same(await find('"sun full"'), [], 'the same words in another order are not the phrase')
    t.same((await find('tomatoes -crust')).map((r) => r.id), [garden], 'the message that says tomatoes and crust is left out')
    t.same((await find('tomatoes -dense')).map((r) => r.id), [bread, garden], 'each message is matched on its own: "dense" is in another message')
    t.same(new Set((await find('sourdough or REM')).map((r) => r.id)), new Set([bread, cats]), 'either word')
    t.same(await find('sourdough REM'), [], 'both words: no conversation has them in one place')
  })

  t.test('snippets mark the matching words, from the message they came from', async (t) => {
    const [result] = await find('starter')
    t.equal(result!.position, 1)
    const marked = result!.snippet.filter((part) => part.mark).map((part) => part.text)
    t.same(marked, ['starter'])
    t.match(result!.snippet.map((part) => part.text).join(''), /Your starter may be weak/)
    const [title] = await find('sourdough')
    t.equal(title!.match, 'title')
    t.equal(title!.position, null)
    t.same(title!.snippet, [{ text: 'Sourdough', mark: true }, { text: ' troubles' }])
    const [council] = await find('gnome')
    t.equal(council!.match, 'council')
    t.match(council!.snippet.map((part) => part.text).join(''), /garden gnome/)
  })

  t.test("no result ever comes from another user's conversations", async (t) => {
    for (const q of ['tomatoes', 'garden', 'bob', 'frost', '"cover the tomatoes"', 'tomatoes or cats or bread']) {
      const ids = (await find(q)).map((r) => r.id)
      t.notOk(ids.includes(bobs), `alice's "${q}" does not find bob's`)
    }
    t.same((await find('garden', 'bob')).map((r) => r.id), [bobs])
    t.same(await find('garden', 'carol'), [])
  })

  t.test('pages follow each other through the groups without repeats or gaps', async (t) => {
    const all = (await find('tomatoes or garden or cats or bread')).map((r) => r.id)
    t.equal(all.length, 3)
    const seen: string[] = []
    let before
    for (let page = 0; page < 5; page++) {
      const { results, nextCursor } = await search.search('alice', 'tomatoes or garden or cats or bread', { limit: 1, before })
      seen.push(...results.map((r) => r.id))
      if (!nextCursor) break
      before = decodeSearchCursor(nextCursor)!
      t.ok(before, 'the cursor decodes')
    }
    t.same(seen, all)
  })

  t.test('a query of stop words only, or of nothing searchable, finds nothing', async (t) => {
    t.same(await find('the'), [])
    t.same(await find('!!! ---'), [])
  })

  t.test('cursors this server did not write are refused', async (t) => {
    for (const bad of ['', 'x', '3.abc', '1.', '1.bm90IGEgY3Vyc29y']) t.equal(decodeSearchCursor(bad), null, bad)
  })
})

t.test('SEARCH_LANGUAGE: rows written under another language are indexed again', async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const { db } = database
  const id = await storeConversation(db, 'alice', 'Running shoes', [{ question: 'Which running shoes?', answer: 'Light ones.' }])
  const simple = new SearchRepo(db, 'simple')
  t.same((await simple.search('alice', 'running', { limit: 5 })).results, [], 'under simple, the stored english words ("run") do not match')
  t.equal(await simple.reindexBatch(1), 2, 'a batch of one row from each table')
  t.equal(await simple.reindexBatch(), 1, 'the last message')
  t.equal(await simple.reindexBatch(), 0, 'nothing left')
  t.same((await simple.search('alice', 'running', { limit: 5 })).results.map((r) => r.id), [id])
  t.same((await simple.search('alice', 'run', { limit: 5 })).results, [], 'no stemming under simple')
})
