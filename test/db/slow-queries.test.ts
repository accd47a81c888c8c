import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { QueryTimer, type SlowQuery } from '../../src/db/slow-queries.ts'
import { ConversationsRepo } from '../../src/repos/conversations.ts'
import { eachBackend, openTestDatabase } from '../helpers/db.ts'

t.test('a call is reported only when it takes at least the threshold; its result or error still reaches the caller', async (t) => {
  const timer = new QueryTimer()
  const reported: SlowQuery[] = []
  timer.reporter = (query) => reported.push(query)
  timer.thresholdMs = 50
  t.equal(await timer.time('fast', Promise.resolve(42)), 42)
  t.equal(await timer.time('slow', sleep(80).then(() => 'done')), 'done')
  await t.rejects(timer.time('failing', sleep(80).then(() => Promise.reject(new Error('boom')))), /boom/)
  t.same(reported.map((query) => query.operation), ['slow', 'failing'], 'each slow call once, failed or not')
  t.ok(reported.every((query) => query.durationMs >= 50), 'with the time it took')
})

t.test("the repositories time their calls under the operation's name, never its arguments", async (t) => {
  await eachBackend(t, async (t, backend) => {
    const database = await openTestDatabase(t, backend)
    const reported: SlowQuery[] = []
    database.timer.reporter = (query) => reported.push(query)
    database.timer.thresholdMs = 0
    const conversations = new ConversationsRepo(database.db, database.timer)
    const created = await conversations.create('secret-user')
    await conversations.rename('secret-user', created.id, 'a secret title')
    t.same(reported.map((query) => query.operation), ['conversations.create', 'conversations.rename'])
    t.notMatch(JSON.stringify(reported), /secret/)
  })
})
