import { performance } from 'node:perf_hooks'
import autocannon from 'autocannon'

export interface Measurement {
  rps: number
  p50: number
  p99: number
  mean: number
  errors: number
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
