import t from 'tap'
import { HEAP_GROWING_PERCENT, tuneHeapGrowth } from '../src/heap-tuning.ts'

const run = (execArgv: string[], nodeOptions: string) => {
  const set: string[] = []
  const changed = tuneHeapGrowth({ execArgv, nodeOptions, setFlags: (flags) => set.push(flags) })
  return { changed, set }
}

t.test('sets a fixed heap growing factor for V8', async (t) => {
  t.same(run([], ''), { changed: true, set: [`--heap-growing-percent=${HEAP_GROWING_PERCENT}`] })
  t.same(run(['--import', 'tsx'], '--max-old-space-size=512'), { changed: true, set: ['--heap-growing-percent=300'] })
})

t.test("keeps the operator's own factor, from the command line or NODE_OPTIONS", async (t) => {
  t.same(run(['--heap-growing-percent=50'], ''), { changed: false, set: [] })
  t.same(run([], '--enable-source-maps --heap_growing_percent=20'), { changed: false, set: [] })
  t.same(run(['--heap-growing-percent', '80'], ''), { changed: false, set: [] })
  t.same(run([], '--heap-growing-percentage=5'), { changed: true, set: ['--heap-growing-percent=300'] }, 'not a flag V8 knows')
})

