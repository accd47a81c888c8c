import { createServer } from 'node:net'
import t from 'tap'
import { LlmError, OpenAiClient } from '../../src/council/client.ts'
import { startFakeLlm } from '../helpers/fake-llm.ts'

const KEY = 'sk-or-v1-test-key-never-logged'
const ask = [{ role: 'user' as const, content: 'hi' }]

t.test('sends the model and messages with the key as a bearer token', async (t) => {
  const fake = await startFakeLlm(t, () => 'hello')
  const client = new OpenAiClient({ baseUrl: `${fake.baseUrl}/`, apiKey: KEY, timeoutMs: 5000 })
  t.same(await client.complete('org/model', ask), { text: 'hello', usage: null }, 'no usage reported: null, not zero')
  t.equal(fake.requests.length, 1)
  t.match(fake.requests[0], { path: '/v1/chat/completions', model: 'org/model', messages: ask })
  t.equal(fake.requests[0]!.headers.authorization, `Bearer ${KEY}`)
})

t.test("usage: tokens and OpenRouter's cost are read; a missing or malformed field is null", async (t) => {
  const fake = await startFakeLlm(t, () => ({ status: 200, text: 'ok', usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15, cost: 0.00042 } }))
  const client = new OpenAiClient({ baseUrl: fake.baseUrl, apiKey: KEY, timeoutMs: 5000 })
  t.same(await client.complete('m', ask), { text: 'ok', usage: { prompt_tokens: 12, completion_tokens: 3, cost: 0.00042 } })
  fake.setHandler(() => ({ status: 200, text: 'ok', usage: { prompt_tokens: 12, completion_tokens: '3', cost: -1 } }))
  t.same(await client.complete('m', ask), { text: 'ok', usage: { prompt_tokens: 12, completion_tokens: null, cost: null } })
  fake.setHandler(() => ({ status: 200, text: 'ok', usage: 'lots' }))
  t.same(await client.complete('m', ask), { text: 'ok', usage: null })
})

t.test('no key: no Authorization header (local OpenAI-compatible servers)', async (t) => {
  const fake = await startFakeLlm(t, () => 'ok')
  await new OpenAiClient({ baseUrl: fake.baseUrl, apiKey: null, timeoutMs: 5000 }).complete('m', ask)
  t.notOk('authorization' in fake.requests[0]!.headers)
})

t.test("API errors keep the API's status and message", async (t) => {
  const fake = await startFakeLlm(t, () => ({ status: 401, body: { error: { message: 'No auth credentials found', code: 401 } } }))
  const client = new OpenAiClient({ baseUrl: fake.baseUrl, apiKey: KEY, timeoutMs: 5000 })
  await t.rejects(client.complete('m', ask), { name: 'LlmError', status: 401, message: 'No auth credentials found' })

  const cases: [Parameters<typeof fake.setHandler>[0], { status: number | null; message: string | RegExp }][] = [
    [() => ({ status: 429, body: { error: 'Rate limit exceeded' } }), { status: 429, message: 'Rate limit exceeded' }],
    [() => ({ status: 502, body: '<html>Bad gateway</html>' }), { status: 502, message: '<html>Bad gateway</html>' }],
    [() => ({ status: 500, body: '' }), { status: 500, message: 'HTTP 500' }],
    [() => ({ status: 400, body: 'x'.repeat(2000) }), { status: 400, message: /^x{500}…$/ }],
    [() => ({ status: 200, body: 'not json' }), { status: 200, message: 'response was not JSON' }],
    [() => ({ status: 200, body: { error: { message: 'provider overloaded' } } }), { status: 200, message: 'provider overloaded' }],
    [() => ({ status: 200, body: { choices: [] } }), { status: 200, message: 'response held no message content' }],
    [() => ({ status: 200, body: { choices: [{ message: { content: '   ' } }] } }), { status: 200, message: 'response held no message content' }]
  ]
  for (const [handler, expected] of cases) {
    fake.setHandler(handler)
    await t.rejects(client.complete('m', ask), expected)
  }
})

t.test('credentials an upstream error echoes are redacted from the message, which is capped after redacting', async (t) => {
  const echoes = [
    { error: { message: `invalid request; headers were {"authorization":"Bearer ${KEY}"}` } },
    { error: `key ${KEY} is revoked` },
    { message: 'upstream said: Authorization: Bearer sk-or-v1-abcdef0123456789abcdef and api_key=hunter2hunter2' },
    `<pre>x-api-key: sk-proj-ABCDEFGHIJKLMNOP ${'x'.repeat(600)}</pre>`,
    { error: { message: `${'y'.repeat(490)} Bearer ${KEY}` } }
  ]
  const fake = await startFakeLlm(t, () => ({ status: 400, body: echoes[0]! }))
  const client = new OpenAiClient({ baseUrl: fake.baseUrl, apiKey: KEY, timeoutMs: 5000 })
  for (const body of echoes) {
    fake.setHandler(() => ({ status: 400, body }))
    const error = await client.complete('m', ask).catch((e: Error) => e)
    t.equal((error as Error).name, 'LlmError')
    const message = (error as Error).message
    for (const secret of [KEY, 'sk-or-v1-abcdef', 'hunter2', 'sk-proj-ABCD', KEY.slice(0, 8)]) t.notOk(message.includes(secret), `no ${secret.slice(0, 6)}… in "${message.slice(0, 60)}"`)
    t.match(message, /\[r/, "the credential's place is marked")
    t.ok([...message].length <= 501, 'capped')
  }
})

t.test('a model that does not answer times out', async (t) => {
  const fake = await startFakeLlm(t, () => ({ hang: true }))
  const client = new OpenAiClient({ baseUrl: fake.baseUrl, apiKey: KEY, timeoutMs: 200 })
  await t.rejects(client.complete('m', ask), { status: null, message: 'timed out after 200 ms' })
  const aborted = new AbortController()
  const pending = client.complete('m', ask, aborted.signal)
  aborted.abort()
  await t.rejects(pending, { status: null, message: /aborted|timed out/ })
})

t.test('an unreachable API is an LlmError with no status', async (t) => {
  // A port that was just free: nothing listens on it.
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as { port: number }
  await new Promise((resolve) => probe.close(resolve))
  const client = new OpenAiClient({ baseUrl: `http://127.0.0.1:${port}/v1`, apiKey: KEY, timeoutMs: 2000 })
  const error = await client.complete('m', ask).catch((e: unknown) => e)
  t.ok(error instanceof LlmError)
  t.match(error, { status: null, message: /request failed: ECONNREFUSED/ })
  t.notMatch((error as Error).message, KEY)
})
