// npm run bench, live runs: time to first token through the server against the provider's own, many
// streaming runs at once on one instance, and a client moving to a second instance mid-run.
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { isDeepStrictEqual } from 'node:util'
import postgres from 'postgres'

const ROOT = join(import.meta.dirname, '..')
// Runs at once, step by step until one loses runs or health checks: the instance's limit.
const STEPS = (process.env.BENCH_LIVE_RUNS ?? '250,1000,2000').split(',').map(Number)
const MODELS = ['m/one', 'm/two', 'm/three']
const f = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–')
const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : Number.NaN
}

/** How the fake provider answers: the wait before the first piece, then `pieces` pieces `gapMs` apart. */
interface Pace {
  firstMs: number
  pieces: number
  gapMs: number
}

/** An OpenAI-compatible provider on 127.0.0.1 that streams at a set pace (reviews and titles answer whole, after `firstMs`). */
async function pacedProvider(pace: () => Pace) {
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => (body += chunk))
    req.on('end', async () => {
      const parsed = JSON.parse(body) as { stream?: boolean; messages: { content: string }[] }
      const prompt = parsed.messages.at(-1)?.content ?? ''
      const { firstMs, pieces, gapMs } = pace()
      await sleep(firstMs)
      if (!parsed.stream) {
        const content = prompt.includes('FINAL RANKING:') ? 'Fine.\n\nFINAL RANKING:\n1. Response A\n2. Response B\n3. Response C' : 'A title'
        res.setHeader('content-type', 'application/json')
        return res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content } }], usage: { prompt_tokens: 10, completion_tokens: 5 } }))
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      for (let i = 0; i < pieces && !res.destroyed; i++) {
        if (i > 0) await sleep(gapMs)
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: `word${i} ` } }] })}\n\n`)
      }
      res.end(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 10, completion_tokens: pieces } })}\n\ndata: [DONE]\n\n`)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, close: () => server.close() }
}

async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise((resolve) => probe.close(resolve))
  return port
}

/** The compiled server with the loop probe preloaded; resolves once /healthz answers. */
async function server(databaseUrl: string, llmUrl: string, probeFile: string): Promise<{ child: ChildProcess; base: string }> {
  const port = await freePort()
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []
  const child = spawn(process.execPath, [...profile, '--import', join(import.meta.dirname, 'loop-probe.mjs'), 'dist/server.js'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl, PORT: String(port), HOST: '127.0.0.1', AUTH_MODE: 'header', LOG_LEVEL: 'warn',
      LLM_BASE_URL: llmUrl, COUNCIL_MODELS: MODELS.join(','), CHAIRMAN_MODEL: 'm/chair', TITLE_MODEL: 'm/title', USAGE_LIMITS: 'free:100000/100000',
      RATE_LIMIT_MAX: '0', MAX_EVENT_LOOP_DELAY_MS: '0', DB_POOL_MAX: '20', BENCH_PROBE_FILE: probeFile
    }
  })
  const base = `http://127.0.0.1:${port}`
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(100)) {
    if (await fetch(`${base}/healthz`).then((res) => res.ok, () => false)) return { child, base }
  }
  throw new Error('the server did not start')
}

interface Streamed {
  ids: number[]
  events: { type: string; [key: string]: unknown }[]
  /** ms from sending to the first stage1_delta. */
  firstToken: number
  runId: string
}

/** Reads an SSE response from the server: `stopAfter` events, or to its end. */
async function readRun(url: string, init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string }, stopAfter = Infinity): Promise<Streamed> {
  const t0 = performance.now()
  const response = await fetch(url, init)
  const result: Streamed = { ids: [], events: [], firstToken: Number.NaN, runId: response.headers.get('x-run-id') ?? '' }
  let buffer = ''
  const decoder = new TextDecoder()
  const reader = response.body!.getReader()
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    buffer += decoder.decode(read.value, { stream: true })
    let end: number
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const id = /^id: (\d+)$/m.exec(block)
      const data = /^data: (.*)$/m.exec(block)
      if (!id || !data) continue
      const event = JSON.parse(data[1]!)
      if (event.type === 'stage1_delta' && Number.isNaN(result.firstToken)) result.firstToken = performance.now() - t0
      result.ids.push(Number(id[1]))
      result.events.push(event)
      if (result.events.length >= stopAfter) {
        await reader.cancel()
        return result
      }
    }
  }
  return result
}

const ask = (base: string, user: string, id: string, stopAfter?: number) =>
  readRun(`${base}/api/conversations/${id}/message/stream`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-user': user }, body: JSON.stringify({ content: 'How?' }) }, stopAfter)

async function conversations(base: string, users: string[]): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < users.length; i += 100) {
    ids.push(...(await Promise.all(users.slice(i, i + 100).map(async (user) => {
      const res = await fetch(`${base}/api/conversations`, { method: 'POST', headers: { 'x-forwarded-user': user, 'content-type': 'application/json' }, body: '{}' })
      return ((await res.json()) as { id: string }).id
    }))))
  }
  return ids
}

const probeLines = (file: string, from: number, to: number) =>
  readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { t: number; p99: number; max: number; rss: number; busy: number }).filter((line) => line.t >= from && line.t <= to + 250)

export async function liveRuns(freshPostgres: (name: string) => Promise<string>, dropPostgres: (name: string) => Promise<void>, work: string, log: (line: string) => void): Promise<string[]> {
  const name = `llmc_bench_live_${process.pid}`
  const url = await freshPostgres(name)
  let pace: Pace = { firstMs: 0, pieces: 5, gapMs: 0 }
  const provider = await pacedProvider(() => pace)
  const probeA = join(work, 'probe-a.jsonl')
  const probeB = join(work, 'probe-b.jsonl')
  writeFileSync(probeA, '')
  writeFileSync(probeB, '')
  const a = await server(url, provider.url, probeA)
  const b = await server(url, provider.url, probeB)
  const lines: string[] = []
  try {
    // Time to first token: the provider's own, read straight from it, against the client's through the server.
    log('live runs: time to first token')
    pace = { firstMs: 100, pieces: 5, gapMs: 1 }
    const direct: number[] = []
    const through: number[] = []
    const [user] = ['ttft-user']
    const [id] = await conversations(a.base, [user!])
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now()
      const res = await fetch(`${provider.url}/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'm/one', stream: true, messages: [{ role: 'user', content: 'x' }] }) })
      const reader = res.body!.getReader()
      await reader.read()
      direct.push(performance.now() - t0)
      await reader.cancel()
      through.push((await ask(a.base, user!, id!)).firstToken)
    }
    const overhead = through.map((value, i) => value - direct[i]!)
    lines.push(
      '| time to first token (provider waits 100 ms; 30 questions, one at a time) | p50 ms | p99 ms |',
      '|---|---|---|',
      `| the provider's own, read straight from it | ${f(quantile(direct, 0.5))} | ${f(quantile(direct, 0.99))} |`,
      `| through the server (question sent → first stage1_delta) | ${f(quantile(through, 0.5))} | ${f(quantile(through, 0.99))} |`,
      `| the server's share (difference, target ≤ 20 ms) | ${f(quantile(overhead, 0.5))} | ${f(quantile(overhead, 0.99))} |`,
      ''
    )

    // Many streaming runs at once against a slow provider: each member and the chairman write 20 pieces over 1 s.
    lines.push(
      '| concurrent streaming runs (one instance, PostgreSQL; members and chairman stream 20 pieces over ~1 s, reviews take 0.5 s) | complete and stored | wall s | run p50 s | run p99 s | event-loop delay p99 / max ms | health checks answered, p99 / max ms | RSS per in-flight run | server CPU, % of a core (mean) |',
      '|---|---|---|---|---|---|---|---|---|'
    )
    const admin = postgres(url, { max: 1, onnotice: () => {} })
    const unfinished: string[] = []
    let limit = 0
    for (const count of STEPS) {
      log(`live runs: ${count} at once`)
      pace = { firstMs: 500, pieces: 20, gapMs: 50 }
      const users = Array.from({ length: count }, (_, i) => `crowd-${count}-${i}`)
      const ids = await conversations(a.base, users)
      const healthTimes: number[] = []
      let healthFailures = 0
      let polling = true
      const poll = (async () => {
        while (polling) {
          const t0 = performance.now()
          const ok = await fetch(`${a.base}/healthz`).then(async (res) => (await res.text(), res.ok), () => false)
          healthTimes.push(performance.now() - t0)
          if (!ok) healthFailures++
          await sleep(100)
        }
      })()
      const failures = new Map<string, number>()
      const before = probeLines(probeA, Date.now() - 1000, Date.now()).at(-1)?.rss ?? Number.NaN
      const from = Date.now()
      const t0 = performance.now()
      const runs = await Promise.all(users.map(async (user, i) => {
        const started = performance.now()
        const run = await ask(a.base, user, ids[i]!).catch((error: Error & { cause?: { code?: string } }) => {
          failures.set(error.cause?.code ?? error.message, (failures.get(error.cause?.code ?? error.message) ?? 0) + 1)
          return null
        })
        return { run, seconds: (performance.now() - started) / 1000 }
      }))
      const wall = (performance.now() - t0) / 1000
      polling = false
      await poll
      const probe = probeLines(probeA, from, Date.now())
      const complete = runs.filter(({ run }) => run?.events.at(-1)?.type === 'run_end' && run.events.at(-1)!.state === 'complete').length
      const [counted] = await admin<{ stored: number }[]>`select count(*)::int as stored from runs r join conversations c on c.id = r.conversation_id where c.user_id like ${`crowd-${count}-%`} and r.state = 'complete' and r.answer_position is not null`
      const stored = counted?.stored ?? 0
      const peak = Math.max(...probe.map((line) => line.rss))
      const perRun = ((peak - before) * 1024) / count
      const loopP99 = quantile(probe.map((line) => line.p99), 0.99)
      const loopMax = Math.max(...probe.map((line) => line.max))
      const times = runs.map(({ seconds }) => seconds)
      lines.push(`| ${count.toLocaleString('en')} | ${complete.toLocaleString('en')} / ${stored.toLocaleString('en')} | ${f(wall)} | ${f(quantile(times, 0.5), 2)} | ${f(quantile(times, 0.99), 2)} | ${f(loopP99, 0)} / ${f(loopMax, 0)} | ${healthTimes.length - healthFailures} of ${healthTimes.length}, ${f(quantile(healthTimes, 0.99), 0)} / ${f(Math.max(...healthTimes), 0)} | ${f(perRun, 0)} KB | ${f(probe.reduce((sum, line) => sum + line.busy, 0) / probe.length, 0)} |`)
      if (failures.size > 0) unfinished.push(`${count.toLocaleString('en')} at once: ${[...failures].map(([why, n]) => `${n} requests failed before an answer (${why})`).join(', ')}`)
      if (complete === count && stored === count && healthFailures === 0) limit = count
      else break
    }
    // The reconnect test measures reconnecting, not a crowd's leftovers: the first instance is idle first.
    for (const deadline = Date.now() + 300_000; Date.now() < deadline; await sleep(500)) {
      const [left] = await admin<{ running: number }[]>`select count(*)::int as running from runs where state = 'running'`
      if (!left?.running) break
    }
    await admin.end()
    lines.push(...unfinished.map((line) => `\n${line}.`))
    lines.push('', limit > 0
      ? `Every step up to ${limit.toLocaleString('en')} runs at once completed and was stored, with every health check answered; a step that did not is shown last (or none did not).`
      : 'The first step already lost runs or health checks: see the row above.')
    lines.push('')

    // A client moves to the other instance mid-run, with Last-Event-ID.
    log('live runs: reconnecting on a second instance')
    pace = { firstMs: 0, pieces: 20, gapMs: 10 }
    const movers = Array.from({ length: 20 }, (_, i) => `mover-${i}`)
    const moverIds = await conversations(a.base, movers)
    let whole = 0
    const toFirst: number[] = []
    for (const [i, user] of movers.entries()) {
      const part = await ask(a.base, user, moverIds[i]!, 5 + i * 3)
      const last = part.ids.at(-1)!
      const t0 = performance.now()
      const rest = await readRun(`${b.base}/api/conversations/${moverIds[i]}/runs/${part.runId}/events`, { method: 'GET', headers: { 'x-forwarded-user': user, 'last-event-id': String(last) } }, 1)
      toFirst.push(performance.now() - t0)
      const remainder = await readRun(`${b.base}/api/conversations/${moverIds[i]}/runs/${part.runId}/events`, { method: 'GET', headers: { 'x-forwarded-user': user, 'last-event-id': String(last) } })
      const replay = await readRun(`${b.base}/api/conversations/${moverIds[i]}/runs/${part.runId}/events`, { method: 'GET', headers: { 'x-forwarded-user': user } })
      const ids = [...part.ids, ...remainder.ids]
      const inOrder = ids.every((value, k) => value === k + 1)
      // Compared as values: events read back from the store (JSONB) come with their keys in another order.
      if (rest.ids[0] === last + 1 && inOrder && isDeepStrictEqual([...part.events, ...remainder.events], replay.events) && replay.events.at(-1)?.type === 'run_end') whole++
    }
    lines.push(
      `Reconnecting on a second instance (20 runs started on one, left after 5 to 62 events, picked up on the other with Last-Event-ID): ` +
        `${whole} of 20 delivered every event once, in order (checked against a full replay); first event on the other instance p50 ${f(quantile(toFirst, 0.5), 0)} ms, max ${f(Math.max(...toFirst), 0)} ms.`
    )
  } finally {
    a.child.kill('SIGTERM')
    b.child.kill('SIGTERM')
    await Promise.all([a, b].map(({ child }) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.on('close', resolve)))))
    provider.close()
    await dropPostgres(name)
  }
  return lines
}
