// The server's API, as the page uses it. Errors are ApiError with the server's JSON body.

export class ApiError extends Error {
  constructor(status, body, headers) {
    super(body?.message ?? `request failed (${status})`)
    this.status = status
    this.body = body
    this.retryAfter = Number(headers?.get('retry-after')) || null
  }
}

async function request(method, path, body) {
  let res
  try {
    res = await fetch(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
  } catch {
    throw new ApiError(0, { message: 'The server cannot be reached. Check your connection and try again.' })
  }
  // A session that ended (signed out elsewhere, disabled): the page asks to sign in again.
  if (res.status === 401 && !path.startsWith('/api/auth/')) window.dispatchEvent(new CustomEvent('unauthorized'))
  if (res.status === 204) return { data: null, headers: res.headers }
  const data = await res.json().catch(() => null)
  if (!res.ok) throw new ApiError(res.status, data, res.headers)
  return { data, headers: res.headers }
}

/** Reads `id: N` / `data: {...}` events from a Server-Sent Events response body; `onEvent(event, id)`. */
async function readEvents(res, onEvent) {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    buffer += value
    let end
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      let id = null
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) id = Number(line.slice(4))
        if (line.startsWith('data: ')) onEvent(JSON.parse(line.slice(6)), id)
      }
    }
  }
}

async function streamFrom(url, init, onEvent) {
  let res
  try {
    res = await fetch(url, init)
  } catch {
    throw new ApiError(0, { message: 'The server cannot be reached. Check your connection and try again.' })
  }
  if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null), res.headers)
  await readEvents(res, onEvent)
}

export const api = {
  async list({ before, starred, limit = 50 } = {}) {
    const query = new URLSearchParams({ limit: String(limit) })
    if (before) query.set('before', before)
    if (starred) query.set('starred', 'true')
    const { data, headers } = await request('GET', `/api/conversations?${query}`)
    return { items: data, next: headers.get('x-next-cursor') }
  },
  create: async (council) => (await request('POST', '/api/conversations', council ? { council } : {})).data,
  setCouncil: async (id, council) => (await request('PATCH', `/api/conversations/${id}/council`, council ?? {})).data,
  followUp: async (id, content) => (await request('POST', `/api/conversations/${id}/follow-up`, { content })).data,
  retry: async (id, position) => (await request('POST', `/api/conversations/${id}/messages/${position}/retry`)).data,
  get: async (id) => (await request('GET', `/api/conversations/${encodeURIComponent(id)}`)).data,
  rename: async (id, title) => (await request('PATCH', `/api/conversations/${id}/title`, { title })).data,
  star: async (id) => (await request('POST', `/api/conversations/${id}/star`)).data,
  remove: async (id) => request('DELETE', `/api/conversations/${id}`),
  usage: async () => (await request('GET', '/api/usage')).data,
  async search(q, before) {
    const query = new URLSearchParams({ q, limit: '20' })
    if (before) query.set('before', before)
    const { data, headers } = await request('GET', `/api/search?${query}`)
    return { items: data, next: headers.get('x-next-cursor') }
  },
  shares: async (id) => (await request('GET', `/api/conversations/${id}/shares`)).data,
  share: async (id) => (await request('POST', `/api/conversations/${id}/shares`)).data,
  revokeShare: async (shareId) => request('DELETE', `/api/shares/${shareId}`),

  session: async () => (await request('GET', '/api/auth/session')).data,
  signIn: async (email, password) => (await request('POST', '/api/auth/sign-in', { email, password })).data,
  signUp: async (email, password) => (await request('POST', '/api/auth/sign-up', { email, password })).data,
  signOut: async (everywhere = false) => request('POST', '/api/auth/sign-out', { everywhere }),
  changePassword: async (current_password, new_password) => (await request('POST', '/api/auth/password', { current_password, new_password })).data,
  profile: async () => (await request('GET', '/api/users/profile')).data,
  updateProfile: async (changes) => (await request('PATCH', '/api/users/profile', changes)).data,
  keys: async () => (await request('GET', '/api/keys')).data,
  createKey: async (name) => (await request('POST', '/api/keys', { name })).data,
  revokeKey: async (id) => request('DELETE', `/api/keys/${id}`),
  async adminUsers(after) {
    const query = new URLSearchParams({ limit: '100' })
    if (after) query.set('after', after)
    const { data, headers } = await request('GET', `/api/admin/users?${query}`)
    return { items: data, next: headers.get('x-next-cursor') }
  },
  adminInvite: async (email) => (await request('POST', '/api/admin/users', { email })).data,
  adminUpdate: async (userId, changes) => (await request('PATCH', `/api/admin/users/${encodeURIComponent(userId)}`, changes)).data,
  council: async () => (await request('GET', '/api/council')).data,

  /**
   * Asks the council over the stream route; `onEvent(event, id)` sees each event as it arrives. The
   * Idempotency-Key makes sending the same question again (a retried request) join its run, not start one.
   */
  async ask(id, content, onEvent, idempotencyKey) {
    await streamFrom(`/api/conversations/${id}/message/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
      body: JSON.stringify({ content })
    }, onEvent)
  },

  /** Follows a run's events after `after` (0: from its start) until it ends. */
  async follow(id, runId, after, onEvent) {
    await streamFrom(`/api/conversations/${id}/runs/${runId}/events`, { headers: after ? { 'last-event-id': String(after) } : {} }, onEvent)
  },

  cancel: async (id, runId) => (await request('POST', `/api/conversations/${id}/runs/${runId}/cancel`)).data
}
