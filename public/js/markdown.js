// Model output is untrusted: markdown is rendered with marked, then sanitised with DOMPurify, so no
// script, event handler or javascript: link survives.
import { marked } from '/vendor/marked.js'
import DOMPurify from '/vendor/purify.js'

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A' && node.hasAttribute('href')) {
    node.setAttribute('target', '_blank')
    node.setAttribute('rel', 'noopener noreferrer nofollow')
  }
})

export function renderMarkdown(text) {
  const html = marked.parse(String(text ?? ''), { async: false, gfm: true })
  return DOMPurify.sanitize(html, {
    FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'object', 'embed'],
    FORBID_ATTR: ['style']
  })
}

/** An element whose content is `text` as sanitised markdown. */
export function markdown(text, className = 'markdown') {
  const el = document.createElement('div')
  el.className = className
  el.innerHTML = renderMarkdown(text)
  return el
}
