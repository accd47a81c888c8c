/** h('button', {type: 'button', onclick}, 'text', child...): a small element builder. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value)
    else if (key === 'className') el.className = value
    else if (key === 'dataset') Object.assign(el.dataset, value)
    else el.setAttribute(key, value === true ? '' : String(value))
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue
    el.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
  return el
}

let tabsCount = 0

/** Accessible tabs: `items` = [{label, render}]; arrow keys move between tabs. */
export function tabs(items, label) {
  const id = `tabs-${++tabsCount}`
  const list = h('div', { role: 'tablist', 'aria-label': label, className: 'tablist' })
  const panel = h('div', { role: 'tabpanel', className: 'tabpanel', tabindex: '0' })
  const buttons = items.map((item, i) =>
    h('button', {
      type: 'button',
      role: 'tab',
      id: `${id}-${i}`,
      'aria-selected': 'false',
      tabindex: '-1',
      onclick: () => select(i),
      onkeydown: (event) => {
        const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key]
        if (step) {
          const next = (i + step + items.length) % items.length
          select(next)
          buttons[next].focus()
        }
      }
    }, item.label)
  )
  function select(index) {
    buttons.forEach((button, i) => {
      button.setAttribute('aria-selected', String(i === index))
      button.tabIndex = i === index ? 0 : -1
    })
    panel.setAttribute('aria-labelledby', `${id}-${index}`)
    panel.replaceChildren(items[index].render())
  }
  list.append(...buttons)
  if (items.length > 0) select(0)
  return h('div', { className: 'tabs' }, list, panel)
}

export function spinner(text) {
  return h('p', { className: 'progress', role: 'status' }, h('span', { className: 'spinner', 'aria-hidden': 'true' }), text)
}

/** "5 h", "12 min", "3 d": how long until `iso`. */
export function timeUntil(iso) {
  const seconds = Math.max(0, (Date.parse(iso) - Date.now()) / 1000)
  if (seconds >= 86400 * 2) return `${Math.round(seconds / 86400)} d`
  if (seconds >= 3600) return `${Math.round(seconds / 3600)} h`
  return `${Math.max(1, Math.round(seconds / 60))} min`
}
