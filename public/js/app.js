import { passwordChangeView, settingsView, signInView } from './account.js'
import { adminView } from './admin.js'
import { ApiError, api } from './api.js'
import { councilOptions, councilPicker, councilSummary } from './council.js'
import { h, spinner } from './dom.js'
import { downloads, searchBox, sharePanel } from './find.js'
import { limitText, messageView, usageMeter } from './views.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const $ = (selector) => document.querySelector(selector)

const state = {
  filter: 'all',
  conversations: [],
  next: null,
  loading: false,
  current: null,
  busy: false,
  /** GET /api/auth/session: the mode, and who is signed in. */
  session: null
}

// ---- feedback -------------------------------------------------------------------------------

let toastTimer
function toast(text) {
  const el = $('#toast')
  el.textContent = text
  el.hidden = false
  clearTimeout(toastTimer)
  toastTimer = setTimeout(() => (el.hidden = true), 6000)
}

function describe(error) {
  if (error instanceof ApiError && error.status === 429) return limitText(error)
  return error?.message || 'Something went wrong.'
}

window.addEventListener('unhandledrejection', (event) => toast(describe(event.reason)))
window.addEventListener('error', (event) => toast(event.message || 'Something went wrong.'))

// ---- usage ----------------------------------------------------------------------------------

async function refreshUsage() {
  try {
    $('#usage-meter').replaceChildren(...usageMeter(await api.usage()))
  } catch {
    $('#usage-meter').replaceChildren()
  }
}

// ---- sidebar --------------------------------------------------------------------------------

function conversationItem(conversation) {
  const active = state.current?.id === conversation.id
  const link = h('a', { href: `/c/${conversation.id}`, 'data-link': true, className: 'title', 'aria-current': active ? 'page' : undefined }, conversation.title)
  const item = h('li', { className: `conversation${active ? ' active' : ''}`, dataset: { id: conversation.id } },
    link,
    h('div', { className: 'actions' },
      h('button', {
        type: 'button',
        className: 'icon star',
        'aria-pressed': String(conversation.starred),
        'aria-label': conversation.starred ? `Unstar ${conversation.title}` : `Star ${conversation.title}`,
        title: conversation.starred ? 'Unstar' : 'Star',
        onclick: () => toggleStar(conversation)
      }, conversation.starred ? '★' : '☆'),
      h('button', { type: 'button', className: 'icon', 'aria-label': `Rename ${conversation.title}`, title: 'Rename', onclick: () => startRename(item, conversation) }, '✎'),
      h('button', { type: 'button', className: 'icon danger', 'aria-label': `Delete ${conversation.title}`, title: 'Delete', onclick: () => removeConversation(conversation) }, '✕')))
  return item
}

function renderList() {
  const visible = state.filter === 'starred' ? state.conversations.filter((c) => c.starred) : state.conversations
  $('#conversation-list').replaceChildren(...visible.map(conversationItem))
  $('#list-status').textContent = state.loading ? 'Loading…' : visible.length === 0 ? (state.filter === 'starred' ? 'No starred conversations.' : 'No conversations yet.') : ''
}

async function loadConversations({ reset = false } = {}) {
  if (state.loading || (!reset && state.next === undefined)) return
  state.loading = true
  if (reset) {
    state.conversations = []
    state.next = null
  }
  renderList()
  try {
    const page = await api.list({ before: state.next ?? undefined, starred: state.filter === 'starred' })
    const known = new Set(state.conversations.map((c) => c.id))
    state.conversations.push(...page.items.filter((c) => !known.has(c.id)))
    state.next = page.next ?? undefined
  } catch (error) {
    toast(describe(error))
  } finally {
    state.loading = false
    renderList()
  }
}

function upsertConversation(meta, { toTop = false } = {}) {
  const index = state.conversations.findIndex((c) => c.id === meta.id)
  const merged = { ...(state.conversations[index] ?? {}), ...meta }
  if (index >= 0) state.conversations.splice(index, 1)
  if (toTop || index < 0) state.conversations.unshift(merged)
  else state.conversations.splice(index, 0, merged)
  renderList()
}

async function toggleStar(conversation) {
  try {
    const meta = await api.star(conversation.id)
    upsertConversation(meta)
    if (state.current?.id === meta.id) Object.assign(state.current, meta)
  } catch (error) {
    toast(describe(error))
  }
}

function startRename(item, conversation) {
  const input = h('input', { type: 'text', value: conversation.title, maxlength: '500', 'aria-label': 'New title', required: true })
  const form = h('form', { className: 'rename' }, input)
  const cancel = () => renderList()
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const title = input.value.trim()
    if (!title) return input.reportValidity()
    try {
      const meta = await api.rename(conversation.id, title)
      upsertConversation(meta)
      if (state.current?.id === meta.id) {
        state.current.title = meta.title
        renderHeader()
      }
    } catch (error) {
      toast(describe(error))
      cancel()
    }
  })
  input.addEventListener('keydown', (event) => event.key === 'Escape' && cancel())
  input.addEventListener('blur', () => setTimeout(() => form.isConnected && form.requestSubmit(), 0))
  item.querySelector('.title').replaceWith(form)
  input.focus()
  input.select()
}

async function removeConversation(conversation) {
  if (!window.confirm(`Delete "${conversation.title}" and all its messages? This cannot be undone.`)) return
  try {
    await api.remove(conversation.id)
    state.conversations = state.conversations.filter((c) => c.id !== conversation.id)
    renderList()
    if (state.current?.id === conversation.id) navigate('/')
    toast('Conversation deleted.')
  } catch (error) {
    toast(describe(error))
  }
}

// ---- main views -----------------------------------------------------------------------------

function composer(onSubmit, { onFollowUp } = {}) {
  const textarea = h('textarea', {
    id: 'question',
    name: 'content',
    rows: '3',
    maxlength: '32000',
    placeholder: 'Ask the council… (Enter to send, Shift+Enter for a new line)',
    required: true
  })
  const button = h('button', { type: 'submit', className: 'primary' }, 'Send')
  // Facts or answers for the council, stored without a run: the next question's context.
  const addButton = onFollowUp
    ? h('button', { type: 'button', className: 'follow-up', title: 'Store this for the council without asking it now; it is part of the next question\'s context' }, 'Add without asking')
    : null
  const form = h('form', { className: 'composer' },
    h('label', { for: 'question', className: 'visually-hidden' }, 'Your question'),
    textarea,
    h('div', { className: 'composer-buttons' }, button, addButton))
  const submitWith = async (handler) => {
    const content = textarea.value
    if (!content.trim() || state.busy) return
    state.busy = true
    textarea.disabled = button.disabled = true
    if (addButton) addButton.disabled = true
    try {
      if (await handler(content)) textarea.value = ''
    } finally {
      state.busy = false
      textarea.disabled = button.disabled = false
      if (addButton) addButton.disabled = false
      textarea.focus()
    }
  }
  addButton?.addEventListener('click', () => submitWith(onFollowUp))
  textarea.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault()
      form.requestSubmit()
    }
  })
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    submitWith(onSubmit)
  })
  return form
}

function renderHeader() {
  const header = $('#conversation-title')
  if (header && state.current) header.textContent = state.current.title
}

function menuButton() {
  return h('button', {
    type: 'button',
    className: 'icon menu',
    'aria-label': 'Show conversations',
    'aria-controls': 'sidebar',
    onclick: () => document.body.classList.toggle('sidebar-open')
  }, '☰')
}

/** On the first screen when the council is the offline demo: what it is, and how to get real answers. */
function demoNotice() {
  return h('aside', { className: 'notice demo-notice', id: 'demo-notice', hidden: true },
    h('p', {}, h('strong', {}, 'Offline demo. '), 'No language model is asked: the answers are samples, so the app can be tried as it is.'),
    h('p', {}, 'For real answers, set ', h('code', {}, 'OPENROUTER_API_KEY'), ' (or ', h('code', {}, 'LLM_BASE_URL'),
      ' for another OpenAI-compatible API, such as a local Ollama) and restart the server.'))
}

async function revealDemoNotice() {
  const council = await api.council().catch(() => null)
  const notice = $('#demo-notice')
  if (council?.demo && notice) notice.hidden = false
}

/** For an admin, when conversations from before accounts (such as 'local') have no account: claim them. */
function claimNotice() {
  const owners = state.session?.unclaimed ?? []
  if (owners.length === 0) return null
  return h('aside', { className: 'notice claim-notice' },
    h('p', {}, 'Conversations from before accounts are on this server, owned by no account:'),
    h('ul', {}, ...owners.map((owner) => h('li', {}, h('code', {}, owner.user_id), ` (${owner.conversations} conversations) `,
      h('button', { type: 'button', onclick: async (event) => {
        event.target.disabled = true
        const result = await api.adminUpdate(state.session.user.user_id, { claim_from: owner.user_id })
        state.session.unclaimed = owners.filter((o) => o !== owner)
        toast(`${result.claimed_conversations} conversations are now yours.`)
        loadConversations({ reset: true })
        refreshUsage()
        showHome()
      } }, 'Make them mine')))))
}

/**
 * "Council: default: a, b · chair c" with a Change button that opens the picker; `onChoose(choice)`
 * returns the choice now in force (null: the default), or undefined when it was refused.
 */
function councilBar(current, onChoose) {
  const bar = h('div', { className: 'council-bar' })
  const render = (choice, info) => {
    const change = h('button', { type: 'button', className: 'link', 'aria-expanded': 'false' }, 'Change')
    change.addEventListener('click', () => {
      if (bar.querySelector('.council-picker')) return render(choice, info)
      change.setAttribute('aria-expanded', 'true')
      bar.append(councilPicker(info, choice, async (next) => {
        const applied = await onChoose(next)
        if (applied !== undefined) render(applied, info)
      }))
    })
    bar.replaceChildren(h('span', { className: 'council-summary' }, `Council · ${councilSummary(choice, info)}`), ' ', change)
  }
  councilOptions().then((info) => render(current, info), () => bar.remove())
  return bar
}

function showHome() {
  state.current = null
  renderList()
  let choice = null
  $('#main').replaceChildren(
    h('header', { className: 'main-header' }, menuButton(), h('h2', {}, 'Ask the council')),
    h('section', { className: 'welcome' },
      h('p', {}, 'Several models answer your question, rank each other\'s anonymised answers, and a chairman writes the final answer.'),
      demoNotice(), claimNotice()),
    councilBar(null, async (next) => (choice = Object.keys(next).length ? next : null)),
    composer(async (content) => {
      const created = await api.create(choice).catch((error) => (toast(describe(error)), null))
      if (!created) return false
      upsertConversation(created, { toTop: true })
      await navigate(`/c/${created.id}`)
      return ask(content)
    }))
  document.title = 'LLM Council'
  revealDemoNotice()
}

function showNotFound(text = 'This conversation does not exist, or it is not yours.') {
  state.current = null
  renderList()
  $('#main').replaceChildren(
    h('header', { className: 'main-header' }, menuButton(), h('h2', {}, 'Not found')),
    h('section', { className: 'not-found', role: 'alert' }, h('p', {}, text), h('a', { href: '/', 'data-link': true }, 'Back to the start')))
  document.title = 'Not found · LLM Council'
}

function renderMessages() {
  const list = $('#messages')
  if (!list || !state.current) return
  list.replaceChildren(...state.current.messages.map((message, position) => Object.assign(messageView(message, position, retryAnswer), { id: `m${position}` })))
  renderRunBar()
  if (state.current.messages.length === 0) list.append(h('p', { className: 'empty' }, 'No messages yet: ask the council below.'))
}

/** Opened from a search result (`#m<position>`): that message, scrolled to and marked for a moment. */
function revealMessage() {
  const target = /^#m\d+$/.test(location.hash) ? document.getElementById(location.hash.slice(1)) : null
  if (!target) return
  target.scrollIntoView({ block: 'start' })
  target.classList.add('found')
  setTimeout(() => target.classList.remove('found'), 2000)
}

async function showConversation(id) {
  $('#main').replaceChildren(h('p', { className: 'progress' }, 'Loading…'))
  let conversation
  try {
    conversation = await api.get(id)
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 400)) return showNotFound()
    $('#main').replaceChildren(h('p', { className: 'error', role: 'alert' }, describe(error)))
    return
  }
  state.current = conversation
  // Opened by the id it had before it was imported: the address becomes its own.
  if (conversation.id !== id) history.replaceState({}, '', `/c/${conversation.id}`)
  renderList()
  const share = sharePanel(conversation, { toast, describe })
  $('#main').replaceChildren(
    h('header', { className: 'main-header' }, menuButton(), h('h2', { id: 'conversation-title' }, conversation.title),
      h('div', { className: 'conversation-tools' }, downloads(conversation), share.button)),
    share.panel,
    councilBar(conversation.council ?? null, async (next) => {
      try {
        return (await api.setCouncil(conversation.id, next)).council
      } catch (error) {
        toast(describe(error))
        return undefined
      }
    }),
    h('div', { id: 'messages', className: 'messages', 'aria-live': 'polite' }),
    h('div', { id: 'run-bar', className: 'run-bar' }),
    composer(ask, { onFollowUp: addFollowUp }))
  document.title = `${conversation.title} · LLM Council`
  renderMessages()
  $('#main').focus({ preventScroll: true })
  revealMessage()
  // A run still answering (asked before a reload, or in another tab): follow it live from its start.
  if (conversation.run) {
    const pending = { role: 'assistant', stage1: null, stage2: null, stage3: null, metadata: null, pending: { stage: 1 }, runId: conversation.run.id }
    conversation.messages.push(pending)
    renderMessages()
    void followRun(conversation, pending)
  }
}

/** Reads the open conversation again: what the server stored is what the page shows. */
async function reloadCurrent(conversation) {
  const fresh = await api.get(conversation.id).catch(() => null)
  if (!fresh) return
  conversation.messages = fresh.messages
  if (state.current === conversation) renderMessages()
}

/** Stores facts or answers for the council without a run. */
async function addFollowUp(content) {
  const conversation = state.current
  if (!conversation) return false
  try {
    const stored = await api.followUp(conversation.id, content)
    conversation.messages.push({ role: 'user', kind: 'follow_up', content: stored.content })
    renderMessages()
    upsertConversation({ id: conversation.id, message_count: conversation.messages.length, updated_at: new Date().toISOString() }, { toTop: true })
    return true
  } catch (error) {
    toast(describe(error))
    return false
  }
}

/** Runs again what failed in the answer at `position`, which is then shown as updated. */
async function retryAnswer(position) {
  const conversation = state.current
  const message = conversation?.messages[position]
  if (!message || state.busy) return
  state.busy = true
  message.pending = { stage: 0 }
  const article = $('#messages')?.children[position]
  article?.prepend(spinner('Running again what failed…'))
  try {
    Object.assign(message, await api.retry(conversation.id, position), { pending: null })
  } catch (error) {
    message.pending = null
    toast(describe(error))
    await reloadCurrent(conversation)
  } finally {
    state.busy = false
    if (state.current === conversation) renderMessages()
    refreshUsage()
  }
}

/**
 * What a run's events do to the answer being written: each member's text and the synthesis as they
 * come, each stage as it completes. Returns the handler, which remembers the last event's number.
 */
function runHandler(conversation, pending) {
  const still = () => state.current === conversation
  const handle = (event, id) => {
    if (id) pending.lastEventId = id
    const live = (pending.live ??= { stage1: {}, done: {}, stage3: null })
    switch (event.type) {
      case 'run_start': pending.runId = event.run_id; if (still()) renderRunBar(); break
      case 'stage1_start': pending.pending = { stage: 1 }; break
      case 'stage1_delta': live.stage1[event.model] = (live.stage1[event.model] ?? '') + event.text; break
      case 'stage1_model_complete': live.stage1[event.data.model] = event.data.response; live.done[event.data.model] = true; break
      case 'stage1_model_failed': delete live.stage1[event.data.model]; break
      case 'stage1_complete': pending.stage1 = event.data; break
      case 'stage2_start': pending.pending = { stage: 2 }; break
      case 'stage2_complete': pending.stage2 = event.data; pending.metadata = event.metadata; break
      case 'stage3_start': pending.pending = { stage: 3 }; break
      case 'stage3_delta': live.stage3 = live.stage3?.model === event.model ? { model: event.model, text: live.stage3.text + event.text } : { model: event.model, text: event.text }; break
      case 'stage3_complete': pending.stage3 = event.data; pending.metadata = event.metadata; break
      case 'title_complete':
        conversation.title = event.data.title
        upsertConversation({ id: conversation.id, title: event.data.title })
        if (still()) renderHeader()
        break
      case 'complete': pending.pending = null; break
      case 'error': pending.pending = null; pending.error = event.message; break
      case 'run_end': pending.ended = event; pending.pending = null; if (still()) renderRunBar(); break
    }
    if (still()) scheduleRender(pending)
  }
  return handle
}

// Pieces of text arrive many times a second: the answer being written is drawn again at most once a
// frame, and only it (the rest of the conversation stays as it is).
let renderQueued = false
function scheduleRender(message) {
  if (renderQueued) return
  renderQueued = true
  requestAnimationFrame(() => {
    renderQueued = false
    const position = state.current?.messages.indexOf(message) ?? -1
    const shown = $('#messages')?.children[position]
    if (shown) shown.replaceWith(Object.assign(messageView(message, position, retryAnswer), { id: `m${position}` }))
    else renderMessages()
  })
}

/** Stop, beside the composer while a run is answering (outside the answer, which is redrawn as it streams). */
function renderRunBar() {
  const bar = $('#run-bar')
  if (!bar) return
  const running = state.current?.messages.findLast((message) => message.pending && message.runId && !message.ended)
  bar.replaceChildren(...(running
    ? [h('span', { className: 'note' }, 'The council is answering…'),
       h('button', { type: 'button', className: 'stop', onclick: (event) => { event.target.disabled = true; void stopRun(running) } }, 'Stop')]
    : []))
}

/**
 * Follows a run to its end: from where `pending` got to, again after a dropped connection (a few
 * times), then shows what the server stored.
 */
async function followRun(conversation, pending) {
  const handle = runHandler(conversation, pending)
  for (let attempt = 0; !pending.ended && pending.runId && attempt < 5; attempt++) {
    try {
      await api.follow(conversation.id, pending.runId, pending.lastEventId ?? 0, handle)
    } catch (error) {
      if (error instanceof ApiError && error.status !== 0) break
      await new Promise((resolve) => setTimeout(resolve, 1000 * (attempt + 1)))
    }
  }
  pending.pending = null
  await reloadCurrent(conversation)
}

/** Stops the run writing `message`; the server keeps what was finished. */
async function stopRun(message) {
  const conversation = state.current
  if (!conversation || !message.runId) return
  try {
    await api.cancel(conversation.id, message.runId)
  } catch (error) {
    toast(describe(error))
  }
}

/** A random Idempotency-Key (crypto.randomUUID needs https; getRandomValues does not). */
const newKey = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, '0')).join('')

/** Sends a question over the stream and shows each answer as it is written. */
async function ask(content) {
  const conversation = state.current
  if (!conversation) return false
  const pending = { role: 'assistant', stage1: null, stage2: null, stage3: null, metadata: null, pending: { stage: 1 } }
  conversation.messages.push({ role: 'user', content }, pending)
  renderMessages()
  const still = () => state.current === conversation
  try {
    await api.ask(conversation.id, content, runHandler(conversation, pending), newKey())
    // The connection dropped mid-run: pick up where it left off.
    if (!pending.ended && pending.runId) return await followRun(conversation, pending).then(() => true)
    pending.pending = null
    // A run that did not complete is stored with what it had: show that one, with its errors and Retry.
    if (pending.error || pending.ended?.state !== 'complete') await reloadCurrent(conversation)
    else if (still()) renderMessages()
    upsertConversation({ id: conversation.id, message_count: conversation.messages.length, updated_at: new Date().toISOString() }, { toTop: true })
    return true
  } catch (error) {
    if (pending.runId) {
      // The run had started: it goes on, and the page follows it.
      await followRun(conversation, pending)
      return true
    }
    // Refused before anything ran: the question was not stored, so it goes back to the box.
    conversation.messages.splice(-2, 2)
    if (still()) {
      renderMessages()
      $('#messages').append(h('p', { className: 'error', role: 'alert' }, describe(error)))
    }
    return false
  } finally {
    refreshUsage()
  }
}

// ---- routing --------------------------------------------------------------------------------

function safeDecode(text) {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/** A page of its own (settings, admin) in the main column. */
async function showPage(title, build) {
  state.current = null
  renderList()
  $('#main').replaceChildren(h('header', { className: 'main-header' }, menuButton(), h('h2', {}, title)), h('p', { className: 'progress' }, 'Loading…'))
  try {
    $('#main').replaceChildren(h('header', { className: 'main-header' }, menuButton(), h('h2', {}, title)), await build())
  } catch (error) {
    $('#main').append(h('p', { className: 'error', role: 'alert' }, describe(error)))
  }
  document.title = `${title} · LLM Council`
}

async function route() {
  document.body.classList.remove('sidebar-open')
  const path = location.pathname
  const match = /^\/c\/([^/]+)\/?$/.exec(path)
  if (path === '/') return showHome()
  if (path === '/settings' && state.session?.user) return showPage('Settings', () => settingsView(state.session, { onSignedOut: () => location.assign('/') }))
  if (path === '/admin' && state.session?.user?.role === 'admin') return showPage('Admin', () => adminView(state.session))
  // A UUID, or the id a conversation had before it was imported (the server maps it).
  if (match) return showConversation(UUID.test(match[1]) ? match[1].toLowerCase() : safeDecode(match[1]))
  return showNotFound(match ? undefined : 'There is nothing at this address.')
}

async function navigate(path) {
  if (path !== location.pathname) history.pushState({}, '', path)
  await route()
}

document.addEventListener('click', (event) => {
  const link = event.target.closest?.('a[data-link]')
  if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return
  event.preventDefault()
  navigate(link.getAttribute('href'))
})
window.addEventListener('popstate', route)

$('#new-conversation').addEventListener('click', async () => {
  try {
    const created = await api.create()
    upsertConversation(created, { toTop: true })
    await navigate(`/c/${created.id}`)
    $('#question')?.focus()
  } catch (error) {
    toast(describe(error))
  }
})

$('#sidebar .filters').before(searchBox({
  describe,
  onActive: (active) => {
    $('.filters').hidden = active
    $('.conversation-nav').hidden = active
  }
}))

for (const button of document.querySelectorAll('[data-filter]')) {
  button.addEventListener('click', () => {
    state.filter = button.dataset.filter
    for (const other of document.querySelectorAll('[data-filter]')) other.setAttribute('aria-pressed', String(other === button))
    loadConversations({ reset: true })
  })
}

// More of the list as its end scrolls into view (observed once someone is signed in).
const listEnd = new IntersectionObserver((entries) => {
  if (entries.some((entry) => entry.isIntersecting)) loadConversations()
})

// ---- accounts -------------------------------------------------------------------------------

const accountMode = () => state.session?.mode === 'accounts' || state.session?.mode === 'oidc'

function renderAccountBar() {
  const user = state.session?.user
  $('#account-bar').replaceChildren(...(user ? [
    h('span', { className: 'who', title: user.user_id }, user.email ?? user.user_id),
    h('a', { href: '/settings', 'data-link': true }, 'Settings'),
    user.role === 'admin' ? h('a', { href: '/admin', 'data-link': true }, 'Admin') : null,
    accountMode() ? h('button', { type: 'button', className: 'link', onclick: async () => { await api.signOut(); location.assign('/') } }, 'Sign out') : null
  ].filter(Boolean) : []))
}

/** Asks who is signed in, then shows the sign-in screen, the password change, or the app. */
async function start() {
  state.session = await api.session().catch(() => null)
  const params = new URLSearchParams(location.search)
  const signInError = params.get('sign_in_error')
  if (signInError) history.replaceState({}, '', location.pathname)
  const user = state.session?.user
  if (accountMode() && !user) {
    document.body.classList.add('signed-out')
    $('#main').replaceChildren(signInView(state.session, { error: signInError, onSignedIn: start }))
    document.title = 'Sign in · LLM Council'
    return
  }
  if (user?.must_change_password) {
    document.body.classList.add('signed-out')
    $('#main').replaceChildren(passwordChangeView(start, { note: 'An admin gave you a temporary password: choose your own to go on.', email: user.email }))
    return
  }
  document.body.classList.remove('signed-out')
  renderAccountBar()
  loadConversations({ reset: true })
  listEnd.observe($('#list-sentinel'))
  refreshUsage()
  route()
}

window.addEventListener('unauthorized', () => accountMode() && start())
start()
