import t from 'tap'
import { HEAP_GROWING_PERCENT, tuneHeapGrowth } from '../src/heap-tuning.ts'

/** The flags it sets, given node's own arguments and NODE_OPTIONS. */
const run = (execArgv: string[], nodeOptions: string) => {
  const set: string[] = []
  tuneHeapGrowth({ execArgv, nodeOptions, setFlags: (flags) => set.push(flags) })
  return set
}

t.test('sets a fixed heap growing factor for V8', async (t) => {
  t.same(run([], ''), [`--heap-growing-percent=${HEAP_GROWING_PERCENT}`])
  t.same(run(['--import', 'tsx'], '--max-old-space-size=512'), ['--heap-growing-percent=300'])
})

t.test("keeps the operator's own factor, from the command line or NODE_OPTIONS", async (t) => {
  t.same(run(['--heap-growing-percent=50'], ''), [])
  t.same(run([], '--enable-source-maps --heap_growing_percent=20'), [])
  t.same(run(['--heap-growing-percent', '80'], ''), [])
  t.same(run([], '--heap-growing-percentage=5'), ['--heap-growing-percent=300'], 'not a flag V8 knows')
})

