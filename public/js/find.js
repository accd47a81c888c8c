// Finding and keeping conversations: search in the sidebar, downloads and share links in a conversation.
import { api } from './api.js'
import { h } from './dom.js'

const DEBOUNCE_MS = 250

function snippet(parts) {
  return h('span', { className: 'snippet' }, parts.map((part) => (part.mark ? h('mark', {}, part.text) : part.text)))
}

/**
 * The sidebar's search: results as the user types (debounced; a late answer to an older query is
 * dropped), each opening its conversation at the matching message. `onActive(true)` while a query is
 * shown, so the conversation list can step aside.
 */
export function searchBox({ onActive, describe }) {
  const input = h('input', { type: 'search', id: 'search', placeholder: 'Search conversations', 'aria-label': 'Search conversations', maxlength: '500', autocomplete: 'off' })
  const results = h('ul', { id: 'search-results', className: 'search-results', 'aria-label': 'Search results', hidden: true })
  const status = h('p', { className: 'list-status', 'aria-live': 'polite', hidden: true })
  let timer
  let asked = 0
  let next = null

  const resultItem = (result) => h('li', { className: 'search-result' },
    h('a', { href: `/c/${result.id}${result.position === null ? '' : `#m${result.position}`}`, 'data-link': true },
      h('span', { className: 'title' }, result.title),
      result.match === 'title' ? null : snippet(result.snippet),
      result.match === 'council' ? h('span', { className: 'note' }, ' (in a council answer)') : null))

  async function run(query, before) {
    const ticket = ++asked
    status.textContent = 'Searching…'
    try {
      const page = await api.search(query, before)
      if (ticket !== asked) return
      if (!before) results.replaceChildren()
      results.append(...page.items.map(resultItem))
      next = page.next
      if (next) results.append(h('li', {}, h('button', { type: 'button', className: 'link more', onclick: (event) => { event.target.closest('li').remove(); run(query, next) } }, 'More results')))
      status.textContent = results.children.length === 0 ? `Nothing found for “${query}”.` : ''
    } catch (error) {
      if (ticket === asked) status.textContent = describe(error)
    }
  }

  function update() {
    clearTimeout(timer)
    const query = input.value.trim()
    const active = query !== ''
    results.hidden = !active
    status.hidden = !active
    onActive(active)
    if (!active) {
      asked++
      results.replaceChildren()
      return
    }
    timer = setTimeout(() => run(query), DEBOUNCE_MS)
  }

  input.addEventListener('input', update)
  input.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return
    input.value = ''
    update()
  })
  return h('div', { className: 'search', role: 'search' }, input, status, results)
}

/** Download links for a conversation: Markdown and llm-council's JSON file. */
export function downloads(conversation) {
  const href = (format) => `/api/conversations/${conversation.id}/export?format=${format}`
  return h('span', { className: 'downloads' }, 'Download ',
    h('a', { href: href('md'), download: '', className: 'download-md' }, 'Markdown'), ' · ',
    h('a', { href: href('json'), download: '', className: 'download-json' }, 'JSON'))
}

async function copy(input, toast) {
  input.select()
  try {
    await navigator.clipboard.writeText(input.value)
    toast('Link copied.')
  } catch {
    toast('Press Ctrl+C (⌘C) to copy the selected link.')
  }
}

/** The share button and its panel: who can see, the links (copy, revoke), a new link. */
export function sharePanel(conversation, { toast, describe }) {
  const panel = h('section', { className: 'share-panel', 'aria-label': 'Sharing', hidden: true })
  const button = h('button', { type: 'button', className: 'share-button', 'aria-expanded': 'false', 'aria-controls': 'share-panel' }, 'Share')
  panel.id = 'share-panel'

  const linkRow = (link) => {
    const input = h('input', { type: 'text', readonly: true, value: link.url, 'aria-label': 'Shared link', className: 'share-url' })
    return h('li', { className: 'share-link' }, input,
      h('button', { type: 'button', onclick: () => copy(input, toast) }, 'Copy'),
      h('button', { type: 'button', className: 'danger', onclick: async (event) => {
        event.target.disabled = true
        try {
          await api.revokeShare(link.id)
          toast('Link revoked: it no longer opens the conversation.')
          render()
        } catch (error) {
          toast(describe(error))
          event.target.disabled = false
        }
      } }, 'Revoke'),
      h('span', { className: 'note' }, ` made ${new Date(link.created_at).toLocaleString()}`))
  }

  async function render() {
    let links
    try {
      links = await api.shares(conversation.id)
    } catch (error) {
      panel.replaceChildren(h('p', { className: 'error', role: 'alert' }, describe(error)))
      return
    }
    panel.replaceChildren(
      h('p', { className: 'who-can-see' }, links.length === 0
        ? 'Only you can see this conversation.'
        : `Anyone with ${links.length === 1 ? 'the link' : 'one of these links'} can read this conversation as it was when the link was made, without signing in. They cannot write to it.`),
      links.length ? h('ul', { className: 'share-links' }, links.map(linkRow)) : null,
      h('button', { type: 'button', className: 'primary', onclick: async (event) => {
        event.target.disabled = true
        try {
          const link = await api.share(conversation.id)
          await render()
          const input = [...panel.querySelectorAll('.share-url')].find((el) => el.value === link.url)
          if (input) await copy(input, toast)
        } catch (error) {
          toast(describe(error))
          event.target.disabled = false
        }
      } }, links.length ? 'Make another link' : 'Make a read-only link'))
  }

  button.addEventListener('click', () => {
    const open = panel.hidden
    panel.hidden = !open
    button.setAttribute('aria-expanded', String(open))
    if (open) render()
  })
  return { button, panel }
}
