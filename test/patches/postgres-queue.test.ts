import t from 'tap'

/**
 * postgres.js keeps its connections in queues (open, busy, full, ...). With every connection busy, a
 * query goes to `busy.shift()`, and the connection is then moved back with `remove` + `push`. Its
 * Queue left each shifted slot in place, so the busy queue grew by one slot per pipelined query for as
 * long as the server stayed under load, and every `remove` (an indexOf) scanned all of it: `select 1`
 * at 32 concurrent queries on 4 connections fell from 54,000 to 10,000 a second within 20 seconds.
 * patches/postgres+3.4.9.patch (applied by patch-package on install) drops the shifted slots.
 */
interface Queue<T> {
  readonly length: number
  push(x: T): T
  shift(): T | undefined
  remove(x: T): T | null
}

const queueModule = new URL('./queue.js', import.meta.resolve('postgres'))
const { default: Queue } = (await import(queueModule.href)) as { default: <T>(initial?: T[]) => Queue<T> }

/**
 * The queue's own array, seen from inside: the Queue copies `initial` with slice(), which keeps an
 * Array subclass, so this one's methods report how long the array is whenever the queue searches it.
 */
function watchedQueue<T>(initial: T[]) {
  const seen = { longest: 0 }
  class Watched extends Array<T> {
    override indexOf(x: T, from?: number): number {
      seen.longest = Math.max(seen.longest, this.length)
      return super.indexOf(x, from)
    }
  }
  return { queue: Queue(Watched.from(initial)), seen }
}

t.test('a queue that shift never empties stays as long as what it holds', async (t) => {
  const connections = Array.from({ length: 4 }, (_, id) => ({ id }))
  const { queue, seen } = watchedQueue(connections)
  // The busy queue under load: take the next busy connection, give it another query, move it back.
  const taken: number[] = []
  for (let i = 0; i < 10_000; i++) {
    const connection = queue.shift()!
    taken.push(connection.id)
    if (queue.remove(connection) !== null) t.fail('a shifted connection was still in the queue')
    queue.push(connection)
  }
  t.same(taken.slice(-8), [0, 1, 2, 3, 0, 1, 2, 3], 'in turn')
  t.equal(queue.length, 4)
  t.ok(seen.longest <= 2 * connections.length, `its array stayed short (longest ${seen.longest} slots for 4 connections)`)
})

t.test('keeps first-in, first-out order and removal through compaction', async (t) => {
  const { queue } = watchedQueue<number>([])
  for (let i = 0; i < 10; i++) queue.push(i)
  t.same([queue.shift(), queue.shift(), queue.shift()], [0, 1, 2])
  t.equal(queue.remove(5), 5)
  t.equal(queue.remove(1), null, 'an element already shifted')
  for (let i = 0; i < 4; i++) queue.shift()
  t.same([queue.length, queue.shift(), queue.shift()], [2, 8, 9])
  t.equal(queue.length, 0)
  queue.push(10)
  t.same([queue.length, queue.shift()], [1, 10])
})
