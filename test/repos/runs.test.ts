import { sql } from 'drizzle-orm'
import t from 'tap'
import { ConversationsRepo } from '../../src/repos/conversations.ts'
import { MessagesRepo } from '../../src/repos/messages.ts'
import { RunsRepo } from '../../src/repos/runs.ts'
import { eachBackend, openTestDatabase } from '../helpers/db.ts'
import { newRun } from '../helpers/runs.ts'

await eachBackend(t, async (t, backend) => {
  const database = await openTestDatabase(t, backend)
  const conversations = new ConversationsRepo(database.db)
  const messages = new MessagesRepo(database.db)
  const runs = new RunsRepo(database.db)
  const started = async (user = 'alice') => {
    const { id } = await conversations.create(user)
    const run = newRun()
    await messages.startRun(user, id, 'q', 600_000, run)
    return { conversationId: id, runId: run.id }
  }

  t.test('events are read back in order, a page of batches at a time, and all of them', async (t) => {
    const { runId } = await started()
    for (let batch = 0; batch < 450; batch++) {
      await runs.appendEvents([{ runId, firstId: batch * 2 + 1, events: [{ type: 'stage1_delta', text: `${batch}a` }, { type: 'stage1_delta', text: `${batch}b` }] }])
    }
    const first = await runs.eventsAfter(runId, 0)
    t.equal(first.events.length, 400, '200 batches of two')
    t.ok(first.more)
    const middle = await runs.eventsAfter(runId, 3)
    t.equal(middle.events[0]!.id, 4, 'from inside a batch: the rest of it')
    const all = await runs.allEvents(runId)
    t.same(all.map((stored) => stored.id), Array.from({ length: 900 }, (_, i) => i + 1))
    t.equal(all.at(-1)!.event.text, '449b')
    t.same(await runs.eventsAfter(runId, 900), { events: [], more: false })
  })

  t.test('a stopped heartbeat: claimed once, with its owner and day; a live one is kept', async (t) => {
    const dead = await started('bob')
    const alive = await started('carol')
    await database.db.execute(sql`update runs set heartbeat_at = now() - interval '1 hour' where id = ${dead.runId}`)
    t.same(await runs.heartbeat([alive.runId]), [], 'no cancel asked')
    const [claimed, ...rest] = await runs.claimStale(30_000)
    t.same(rest, [])
    t.match(claimed, { id: dead.runId, conversationId: dead.conversationId, userId: 'bob', day: /^\d{4}-\d{2}-\d{2}$/, questionPosition: 0, answerPosition: null })
    t.same(await runs.claimStale(30_000), [], 'taken once')
    t.match(await runs.get('bob', dead.conversationId, dead.runId), { state: 'interrupted', ended_at: String })
    t.match(await runs.get('carol', alive.conversationId, alive.runId), { state: 'running', ended_at: null })
  })

  t.test("a cancel is asked of running runs only, the owner's only, and the heartbeat hands it on", async (t) => {
    const { conversationId, runId } = await started('dave')
    t.equal(await runs.requestCancel('eve', conversationId, runId), false, 'not yours')
    t.equal(await runs.requestCancel('dave', conversationId, runId), true)
    t.same(await runs.heartbeat([runId]), [runId])
    await database.db.execute(sql`update runs set state = 'complete' where id = ${runId}`)
    t.equal(await runs.requestCancel('dave', conversationId, runId), false, 'ended')
    t.equal(await runs.get('eve', conversationId, runId), null)
  })

  t.test("events of runs ended more than the keep time ago are purged; a running run's are kept", async (t) => {
    const ended = await started('frank')
    const running = await started('grace')
    for (const { runId } of [ended, running]) await runs.appendEvents([{ runId, firstId: 1, events: [{ type: 'run_start' }] }])
    await database.db.execute(sql`update run_events set created_at = now() - interval '2 hours'`)
    await database.db.execute(sql`update runs set state = 'complete' where id = ${ended.runId}`)
    t.ok((await runs.purgeEvents(60 * 60 * 1000)) >= 1)
    t.same((await runs.eventsAfter(ended.runId, 0)).events, [])
    t.equal((await runs.eventsAfter(running.runId, 0)).events.length, 1)
  })

  t.test('text a model wrote that JSONB cannot hold is stored replaced, not lost with its batch', async (t) => {
    const { runId } = await started('heidi')
    await runs.appendEvents([{ runId, firstId: 1, events: [{ type: 'stage1_delta', text: 'a\u0000b\ud83d' }] }])
    t.equal((await runs.eventsAfter(runId, 0)).events[0]!.event.text, 'a\ufffdb\ufffd')
  })
})
