import t from 'tap'
import pino from 'pino'
import { ConversationsRepo } from '../../src/repos/conversations.ts'
import { MessagesRepo } from '../../src/repos/messages.ts'
import { RunsRepo } from '../../src/repos/runs.ts'
import { RunHub } from '../../src/services/run-hub.ts'
import { eachBackend, openTestDatabase } from '../helpers/db.ts'
import { newRun } from '../helpers/runs.ts'

await eachBackend(t, async (t, backend) => {
  const database = await openTestDatabase(t, backend)
  const conversations = new ConversationsRepo(database.db)
  const messages = new MessagesRepo(database.db)
  const runs = new RunsRepo(database.db)
  const errors: string[] = []
  const log = pino({ level: 'error' }, { write: (line: string) => void errors.push(line) })
  const hub = new RunHub({ runs, log, heartbeatMs: 60_000, onStale: async () => {} })
  const started = async () => {
    const { id } = await conversations.create('alice')
    const run = newRun()
    await messages.startRun('alice', id, 'q', 600_000, run)
    return { conversationId: id, live: hub.open(run.id) }
  }

  t.test("a conversation deleted mid-run costs no other run its events, and is not an error", async (t) => {
    const kept = await started()
    const deleted = await started()
    for (const { live } of [kept, deleted]) live.emit({ type: 'run_start', run_id: live.id })
    await conversations.delete('alice', deleted.conversationId)
    for (const { live } of [kept, deleted]) live.emit({ type: 'stage1_start' })
    await hub.flush()
    t.same((await runs.allEvents(kept.live.id)).map((stored) => [stored.id, stored.event.type]), [[1, 'run_start'], [2, 'stage1_start']])
    t.same(errors, [], 'nothing logged')
  })

  t.test('a flush the database refuses is tried again: no event is lost, none stored twice', async (t) => {
    let refusals = 1
    const flaky = Object.assign(Object.create(runs) as RunsRepo, {
      appendEvents: async (batches: Parameters<RunsRepo['appendEvents']>[0]) => {
        if (refusals-- > 0) throw Object.assign(new Error('connection lost'), { code: '08006' })
        return runs.appendEvents(batches)
      }
    })
    const warnings: string[] = []
    const hub = new RunHub({ runs: flaky, log: pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) }), heartbeatMs: 60_000, onStale: async () => {} })
    const { id } = await conversations.create('alice')
    const run = newRun()
    await messages.startRun('alice', id, 'q', 600_000, run)
    const live = hub.open(run.id)
    live.emit({ type: 'run_start', run_id: live.id })
    await hub.flush()
    live.emit({ type: 'stage1_start' })
    await hub.flush()
    t.same((await runs.allEvents(run.id)).map((stored) => stored.id), [1, 2])
    t.match(warnings.join(''), /could not store 1 batch\(es\) of run events; trying again/)
  })

  t.test('a follower here gets what the run had, then each new event, and stops at run_end', async (t) => {
    const { live } = await started()
    live.emit({ type: 'run_start', run_id: live.id })
    live.emit({ type: 'stage1_start' })
    const seen: number[] = []
    const following = hub.follow(live.id, 1, (stored) => seen.push(stored.id), new AbortController().signal, async () => null)
    live.emit({ type: 'run_end', run_id: live.id, state: 'complete', position: 1 })
    live.emit({ type: 'stage1_start' })
    await following
    t.same(seen, [2, 3], 'after 1, up to the end; nothing after it')
  })

  t.test('a follower elsewhere reads the store, and is told the end when no run_end was stored', async (t) => {
    const { live } = await started()
    live.emit({ type: 'run_start', run_id: live.id })
    await hub.close(live)
    const other = new RunHub({ runs, log, heartbeatMs: 60_000, pollMs: 20, onStale: async () => {} })
    const seen: string[] = []
    await other.follow(live.id, 0, (stored) => seen.push(`${stored.id}:${stored.event.type}`), new AbortController().signal, async () => ({ type: 'run_end' }))
    t.same(seen, ['1:run_start', '2:run_end'])
  })
})
