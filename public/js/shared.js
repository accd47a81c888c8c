// The read-only page of a shared link (/s/<token>): the conversation as it was shared, nothing to write.
import { h } from './dom.js'
import { messageView } from './views.js'

const main = document.querySelector('#main')
const token = location.pathname.split('/')[2] ?? ''

function notShared() {
  document.title = 'Not shared · LLM Council'
  main.replaceChildren(h('section', { className: 'not-found', role: 'alert' },
    h('h2', {}, 'This link does not work'),
    h('p', {}, 'It was never shared, its owner stopped sharing it, or the conversation was deleted.')))
}

async function show() {
  const res = await fetch(`/api/shared/${encodeURIComponent(token)}`).catch(() => null)
  if (!res || res.status === 404) return notShared()
  if (!res.ok) {
    main.replaceChildren(h('p', { className: 'error', role: 'alert' }, 'The conversation cannot be shown right now. Try again in a moment.'))
    return
  }
  const conversation = await res.json()
  document.title = `${conversation.title} · LLM Council`
  main.replaceChildren(
    h('header', { className: 'main-header' }, h('h2', {}, conversation.title)),
    h('p', { className: 'note shared-note' }, `A read-only copy of an LLM Council conversation, shared ${new Date(conversation.shared_at).toLocaleString()}.`),
    h('div', { id: 'messages', className: 'messages' }, ...conversation.messages.map((message, position) => messageView(message, position, null))))
}

show()
