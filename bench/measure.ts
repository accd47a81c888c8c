import { readFileSync, readdirSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import autocannon from 'autocannon'

export interface Measurement {
  rps: number
  p50: number
  p99: number
  mean: number
  /** Requests answered (2xx) in the run. */
  count: number
  errors: number
  /** CPU time per request, µs (user + system), where `withCpu` measured it. */
  cpu?: CpuPerRequest
}

export interface CpuPerRequest {
  /** The HTTP server under test (none for the in-process database ceiling). */
  server?: number
  /** All PostgreSQL processes on this machine; none when the database runs elsewhere. */
  postgres?: number
  /** This process: the load generator (autocannon) or the in-process database client. */
  bench: number
  /** The share of the machine's CPU time (all cores) that no process used during the run, 0–1. */
  idle?: number
}

/** autocannon against a URL from this process (the server under test runs in another). */
export async function http(options: {
  url: string
  connections: number
  seconds: number
  method?: 'GET' | 'POST'
  headers?: Record<string, string>
  body?: string
  paths?: string[]
}): Promise<Measurement> {
  let next = 0
  // autocannon's own latency histogram counts whole milliseconds; its response events carry the exact time.
  const latencies: number[] = []
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: options.seconds,
        method: options.method ?? 'GET',
        headers: options.headers,
        body: options.body,
        ...(options.paths
          ? { requests: [{ setupRequest: (request: autocannon.Request) => ({ ...request, path: options.paths![next++ % options.paths!.length]! }) }] }
          : {})
      },
      (error, finished) => (error ? reject(error) : resolve(finished))
    )
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode < 300) latencies.push(responseTime)
    })
  })
  return {
    ...summarise(latencies, result.duration),
    rps: result.requests.average,
    errors: result.errors + result.non2xx + result.timeouts
  }
}

function summarise(latencies: number[], seconds: number): Omit<Measurement, 'errors'> {
  latencies.sort((a, b) => a - b)
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0
  return {
    count: latencies.length,
    rps: latencies.length / seconds,
    p50: at(0.5),
    p99: at(0.99),
    mean: latencies.reduce((sum, value) => sum + value, 0) / Math.max(1, latencies.length)
  }
}

/** `concurrency` workers running `task` back to back for `seconds`: the same shape as autocannon's figures. */
export async function inProcess(task: (i: number) => Promise<unknown>, concurrency: number, seconds: number): Promise<Measurement> {
  const latencies: number[] = []
  let errors = 0
  const end = performance.now() + seconds * 1000
  let counter = 0
  const worker = async () => {
    while (performance.now() < end) {
      const started = performance.now()
      try {
        await task(counter++)
      } catch {
        errors++
      }
      latencies.push(performance.now() - started)
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { ...summarise(latencies, (performance.now() - started) / 1000), errors }
}

export async function peakRss(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises')
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024
}

// Linux's USER_HZ: /proc/<pid>/stat counts CPU time in hundredths of a second.
const TICK_US = 10_000

/** CPU time (µs, user + system) a process has used so far, from /proc/<pid>/stat; 0 once it is gone. */
export function processCpu(pid: number): number {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return 0
  }
  // Fields after the command name (which may hold spaces, so split after its closing parenthesis): utime is the 12th, stime the 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * TICK_US
}

/** CPU time (µs) used so far by every process named postgres on this machine; undefined when there is none. */
export function postgresCpu(): number | undefined {
  let total: number | undefined
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'postgres') continue
    } catch {
      continue
    }
    total = (total ?? 0) + processCpu(Number(entry))
  }
  return total
}

/** The machine's CPU time so far, all cores, in ticks: idle (with I/O wait) and in all; undefined without /proc/stat. */
export function machineCpu(): { idle: number; total: number } | undefined {
  let line: string
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!
  } catch {
    return undefined
  }
  // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest time is counted in user already).
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number) as number[]
  return { idle: idle! + iowait!, total: user! + nice! + system! + idle! + iowait! + irq! + softirq! + (steal ?? 0) }
}

/**
 * Runs `run` and adds the CPU time per request that the server (`pid`), PostgreSQL and this process spent
 * on it. On a machine whose cores all three share, a time measured under load follows their sum: this
 * shows where it went. (A PostgreSQL backend that exits during the run takes its time with it: the
 * runs here keep their pools open.)
 */
export async function withCpu(pid: number | undefined, run: () => Promise<Measurement>): Promise<Measurement> {
  const before = { server: pid ? processCpu(pid) : 0, postgres: postgresCpu(), bench: process.cpuUsage(), machine: machineCpu() }
  const measured = await run()
  const postgres = postgresCpu()
  const bench = process.cpuUsage(before.bench)
  const machine = machineCpu()
  const per = (us: number) => us / Math.max(1, measured.count)
  return {
    ...measured,
    cpu: {
      server: pid ? per(processCpu(pid) - before.server) : undefined,
      postgres: postgres !== undefined && before.postgres !== undefined ? per(postgres - before.postgres) : undefined,
      bench: per(bench.user + bench.system),
      idle: machine && before.machine && machine.total > before.machine.total
        ? (machine.idle - before.machine.idle) / (machine.total - before.machine.total)
        : undefined
    }
  }
}
