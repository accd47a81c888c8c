import { EventEmitter } from 'node:events'
import t from 'tap'
import { SAME_SIGNAL_MS, onStopSignals } from '../src/stop-signals.ts'

function harness() {
  const process = new EventEmitter()
  let clock = 0
  const calls: string[] = []
  onStopSignals(
    {
      stop: (signal) => calls.push(`stop ${signal}`),
      repeated: (signal) => calls.push(`repeated ${signal}`),
      force: (signal) => calls.push(`force ${signal}`)
    },
    process as never,
    () => clock
  )
  return {
    calls,
    signal(name: NodeJS.Signals, atMs: number) {
      clock = atMs
      process.emit(name, name)
    }
  }
}

t.test('copies of one signal arriving together are one request to stop', async (t) => {
  const { calls, signal } = harness()
  signal('SIGTERM', 0)
  signal('SIGTERM', 2)
  signal('SIGINT', SAME_SIGNAL_MS - 1)
  t.same(calls, ['stop SIGTERM', 'repeated SIGTERM', 'repeated SIGINT'])
})

t.test('a repeated SIGTERM never forces an exit, however late', async (t) => {
  const { calls, signal } = harness()
  signal('SIGTERM', 0)
  signal('SIGTERM', 10 * SAME_SIGNAL_MS)
  t.same(calls, ['stop SIGTERM', 'repeated SIGTERM'])
})

t.test('a second Ctrl-C a moment later forces the exit, after SIGINT or SIGTERM', async (t) => {
  for (const first of ['SIGINT', 'SIGTERM'] as const) {
    const { calls, signal } = harness()
    signal(first, 0)
    signal('SIGINT', SAME_SIGNAL_MS)
    t.same(calls, [`stop ${first}`, 'force SIGINT'], first)
  }
})
