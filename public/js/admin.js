// The admin page: users with tier, usage and last activity; tier, disable, password reset, invite.
import { api } from './api.js'
import { h } from './dom.js'

const count = (used, limit) => `${used} / ${limit ?? '∞'}`

function userRow(user, { tiers, me, onChanged, onNotice }) {
  const update = async (changes) => {
    const updated = await api.adminUpdate(user.user_id, changes)
    if (updated.temporary_password) onNotice(`Temporary password for ${user.email}: ${updated.temporary_password} (pass it on; it is asked to be changed at sign-in).`)
    onChanged(updated)
  }
  const tier = h('select', { 'aria-label': `Tier of ${user.email ?? user.user_id}`, onchange: (event) => update({ tier: event.target.value }) },
    ...tiers.map((name) => h('option', { value: name, selected: name === user.usage.tier }, name)))
  const self = user.user_id === me
  return h('tr', { dataset: { userId: user.user_id } },
    h('td', {}, user.email ?? h('code', {}, user.user_id), user.role === 'admin' ? h('span', { className: 'badge' }, 'admin') : null,
      user.disabled ? h('span', { className: 'badge danger' }, 'disabled') : null),
    h('td', {}, tier),
    h('td', {}, count(user.usage.daily_used, user.usage.daily_limit)),
    h('td', {}, count(user.usage.monthly_used, user.usage.monthly_limit)),
    h('td', {}, user.last_active_at ? new Date(user.last_active_at).toLocaleString() : '—'),
    h('td', {}, user.role === null ? h('span', { className: 'note' }, 'no account') : h('div', { className: 'row-actions' },
      self ? null : h('button', { type: 'button', onclick: () => update({ disabled: !user.disabled }) }, user.disabled ? 'Enable' : 'Disable'),
      h('button', { type: 'button', onclick: () => confirm(`Give ${user.email} a temporary password? Their sessions end.`) && update({ reset_password: true }) }, 'Reset password'))))
}

export async function adminView(session) {
  const notice = h('p', { className: 'notice', role: 'status', hidden: true })
  const onNotice = (text) => { notice.textContent = text; notice.hidden = false }
  const tbody = h('tbody')
  const more = h('button', { type: 'button', hidden: true }, 'More users')
  let users = []
  let next = null
  // The configured tiers, and any a user is still on after USAGE_LIMITS dropped it.
  const tiers = new Set(session.tiers ?? [])
  function render() {
    for (const user of users) tiers.add(user.usage.tier)
    tbody.replaceChildren(...users.map((user) => userRow(user, {
      tiers: [...tiers], me: session.user.user_id, onNotice,
      onChanged: (updated) => { users = users.map((u) => (u.user_id === updated.user_id ? updated : u)); render() }
    })))
    more.hidden = !next
  }
  async function load(after) {
    const page = await api.adminUsers(after)
    users = after ? [...users, ...page.items] : page.items
    next = page.next
    render()
  }
  more.addEventListener('click', () => load(next))
  const inviteForm = h('form', { className: 'inline' },
    h('label', { className: 'field' }, h('span', {}, 'Invite by email'), h('input', { name: 'email', type: 'email', required: true })),
    h('button', { type: 'submit' }, 'Invite'))
  inviteForm.addEventListener('submit', async (event) => {
    event.preventDefault()
    const created = await api.adminInvite(String(new FormData(inviteForm).get('email')))
    onNotice(created.temporary_password
      ? `Account made for ${created.email}. Temporary password: ${created.temporary_password} (pass it on; it is asked to be changed at sign-in).`
      : `Account made for ${created.email}: they sign in with single sign-on.`)
    inviteForm.reset()
    await load()
  })
  await load()
  return h('div', { className: 'admin' }, notice, inviteForm,
    h('table', { className: 'users' },
      h('thead', {}, h('tr', {}, ...['User', 'Tier', 'Today', 'This month', 'Last active', ''].map((c) => h('th', { scope: 'col' }, c)))),
      tbody),
    more)
}
