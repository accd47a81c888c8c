import { spawn } from 'node:child_process'
import { cpus } from 'node:os'
import t from 'tap'
import { type Measurement, machineCpu, postgresCpu, processCpu, withCpu } from '../../bench/measure.ts'
import { TEST_DATABASE_IS_LOCAL } from '../helpers/db.ts'

/** Spends `ms` of this process's CPU time (not wall time: on a busy machine the two differ). */
const busy = (ms: number) => {
  const start = process.cpuUsage()
  const spent = () => {
    const { user, system } = process.cpuUsage(start)
    return (user + system) / 1000
  }
  while (spent() < ms) Math.sqrt(Math.random())
}

const measured = (count: number): Measurement => ({ rps: count, p50: 1, p99: 1, mean: 1, count, errors: 0 })

t.test('processCpu reads the CPU time a process has used, and 0 for one that is gone', async (t) => {
  const before = processCpu(process.pid)
  busy(100)
  // /proc counts in hundredths of a second: 100 ms of work shows as at least 50 ms.
  t.ok(processCpu(process.pid) - before >= 50_000, 'a busy 100 ms counts')
  const child = spawn(process.execPath, ['-e', ''])
  await new Promise((resolve) => child.on('close', resolve))
  t.equal(processCpu(child.pid!), 0, 'an exited process reads 0')
})

t.test('withCpu: CPU per request of the server, PostgreSQL and this process', async (t) => {
  // A stand-in server, busy for longer than the run: read after the run, it is still there.
  const server = spawn(process.execPath, ['-e', 'const end = Date.now() + 1500; while (Date.now() < end) Math.sqrt(Math.random())'])
  t.teardown(() => server.kill())
  await new Promise((resolve) => server.on('spawn', resolve))
  const result = await withCpu(server.pid, async () => {
    busy(200)
    await new Promise((resolve) => setTimeout(resolve, 500))
    return measured(10)
  })
  t.equal(result.count, 10, 'the measurement is passed on')
  // 200 ms of CPU here and up to ~700 ms of the server's (less on a busy machine), over 10 requests.
  t.ok(result.cpu!.bench >= 10_000, `this process: ${result.cpu!.bench} µs a request`)
  t.ok(result.cpu!.server! >= 5_000, `the server: ${result.cpu!.server} µs a request`)

  t.ok(result.cpu!.idle! >= 0 && result.cpu!.idle! < 1, `the machine's idle share: ${result.cpu!.idle}`)

  const noServer = await withCpu(undefined, async () => measured(0))
  t.equal(noServer.cpu!.server, undefined, 'no server, no server figure')
  t.ok(Number.isFinite(noServer.cpu!.bench), 'no requests counts as one, not a division by zero')
})

t.test('postgresCpu sums the local PostgreSQL processes', { skip: !TEST_DATABASE_IS_LOCAL && 'TEST_DATABASE_URL is not a local server' }, async (t) => {
  const cpu = postgresCpu()
  t.ok(cpu !== undefined && cpu > 0, `PostgreSQL has used ${cpu} µs`)
})

t.test("machineCpu counts every core's time, idle and in all", async (t) => {
  const before = machineCpu()!
  await new Promise((resolve) => setTimeout(resolve, 500))
  const after = machineCpu()!
  // Hundredths of a second on each core: half a second is about 50 ticks a core.
  const ticks = after.total - before.total
  const expected = 50 * cpus().length
  t.ok(ticks >= expected / 2 && ticks <= expected * 2, `${ticks} ticks in 500 ms on ${cpus().length} cores`)
  t.ok(after.idle >= before.idle && after.idle - before.idle <= ticks, 'idle is a part of the whole')
})
