// Preloaded into the server under `npm run bench` (node --import): every 250 ms it appends the event
// loop's delay over that window (p99, max, ms), the process's RSS (MB) and its CPU use (% of one
// core) to BENCH_PROBE_FILE.
import { appendFileSync } from 'node:fs'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'

const file = process.env.BENCH_PROBE_FILE
if (file) {
  const histogram = monitorEventLoopDelay({ resolution: 10 })
  histogram.enable()
  let cpu = process.cpuUsage()
  let at = performance.now()
  setInterval(() => {
    const used = process.cpuUsage(cpu)
    const now = performance.now()
    // CPU time over wall time in the window: 100 is one core kept busy.
    const busy = ((used.user + used.system) / 1000 / (now - at)) * 100
    cpu = process.cpuUsage()
    at = now
    const line = { t: Date.now(), p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6, rss: process.memoryUsage.rss() / 1024 / 1024, busy }
    histogram.reset()
    appendFileSync(file, `${JSON.stringify(line)}\n`)
  }, 250).unref()
}
