// Signing in, the caller's settings (profile, password, API keys), and the admin page.
import { ApiError, api } from './api.js'
import { h } from './dom.js'

const PASSWORD_MIN_LENGTH = 10

function field(label, attrs) {
  return h('label', { className: 'field' }, h('span', {}, label), h('input', attrs))
}

function errorLine() {
  return h('p', { className: 'error', role: 'alert', hidden: true })
}

function showError(line, error) {
  line.textContent = error instanceof ApiError || error instanceof Error ? error.message : String(error)
  line.hidden = false
}

/** Runs `action` with the form's submit button disabled; errors go to `line`. */
function submitting(form, line, action) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const button = form.querySelector('button[type="submit"]')
    button.disabled = true
    line.hidden = true
    try {
      await action(new FormData(form))
    } catch (error) {
      showError(line, error)
    } finally {
      button.disabled = false
    }
  })
  return form
}

/** The sign-in screen: email and password (with sign-up when it is open), and single sign-on. */
export function signInView(session, { error, onSignedIn }) {
  let signingUp = false
  const line = errorLine()
  const title = h('h2', {}, 'Sign in')
  const submit = h('button', { type: 'submit', className: 'primary' }, 'Sign in')
  const password = field('Password', { name: 'password', type: 'password', required: true, autocomplete: 'current-password' })
  const hint = h('p', { className: 'note', hidden: true }, `At least ${PASSWORD_MIN_LENGTH} characters.`)
  const toggle = h('button', { type: 'button', className: 'link', onclick: () => setMode(!signingUp) }, 'Make an account')
  function setMode(up) {
    signingUp = up
    title.textContent = up ? 'Make an account' : 'Sign in'
    submit.textContent = up ? 'Make account' : 'Sign in'
    toggle.textContent = up ? 'I have an account: sign in' : 'Make an account'
    hint.hidden = !up
    password.querySelector('input').autocomplete = up ? 'new-password' : 'current-password'
    password.querySelector('input').minLength = up ? PASSWORD_MIN_LENGTH : 1
  }
  const form = session.password_sign_in &&
    submitting(h('form', { className: 'sign-in-form' },
      field('Email', { name: 'email', type: 'email', required: true, autocomplete: 'username' }),
      password, hint, submit, session.can_sign_up ? toggle : null), line,
    async (data) => {
      const email = String(data.get('email'))
      const secret = String(data.get('password'))
      await (signingUp ? api.signUp(email, secret) : api.signIn(email, secret))
      onSignedIn()
    })
  const sso = session.single_sign_on && h('a', { className: 'button sso', href: '/api/auth/oidc/start' }, 'Sign in with single sign-on')
  if (error) showError(line, error)
  const view = h('section', { className: 'sign-in' }, h('h1', { className: 'brand' }, 'LLM Council'), title,
    session.can_sign_up && session.password_sign_in ? h('p', { className: 'note' }, 'New here? Make an account; the first account on a new server is its admin.') : null,
    form, sso, line)
  return view
}

/** Asked before anything else when an admin set a temporary password. */
export function passwordChangeView(onChanged, { note, heading = 'h2', email } = {}) {
  const line = errorLine()
  return h('section', { className: 'password-change' },
    h(heading, {}, 'Change your password'),
    note ? h('p', { className: 'note' }, note) : null,
    submitting(h('form', {},
      // For password managers: which account the new password belongs to.
      h('input', { type: 'email', name: 'username', autocomplete: 'username', value: email ?? '', hidden: true, readonly: true }),
      field('Current password', { name: 'current', type: 'password', required: true, autocomplete: 'current-password' }),
      field('New password', { name: 'next', type: 'password', required: true, minLength: PASSWORD_MIN_LENGTH, autocomplete: 'new-password' }),
      h('button', { type: 'submit', className: 'primary' }, 'Change password')), line,
    async (data) => {
      await api.changePassword(String(data.get('current')), String(data.get('next')))
      onChanged()
    }),
    line)
}

function keyRow(key, onRevoked) {
  return h('tr', {},
    h('td', {}, key.name), h('td', {}, h('code', {}, `${key.prefix}…`)),
    h('td', {}, new Date(key.created_at).toLocaleDateString()),
    h('td', {}, key.last_used_at ? new Date(key.last_used_at).toLocaleString() : 'never'),
    h('td', {}, h('button', { type: 'button', className: 'danger', 'aria-label': `Revoke ${key.name}`, onclick: async () => {
      if (!confirm(`Revoke the key "${key.name}"? Anything using it stops working at once.`)) return
      await api.revokeKey(key.id)
      onRevoked()
    } }, 'Revoke')))
}

async function keysSection() {
  const section = h('section', { className: 'settings-block', 'aria-labelledby': 'keys-heading' })
  const line = errorLine()
  async function render(created) {
    const keys = await api.keys()
    section.replaceChildren(
      h('h3', { id: 'keys-heading' }, 'API keys'),
      h('p', { className: 'note' }, 'For scripts: send ', h('code', {}, 'Authorization: Bearer <key>'), '. A key acts as you and counts against your allowance.'),
      created ? h('p', { className: 'new-key', role: 'status' }, 'Your new key (copy it now: it is not shown again): ', h('code', { id: 'new-key' }, created.key)) : null,
      keys.length ? h('table', { className: 'keys' }, h('thead', {}, h('tr', {}, ...['Name', 'Key', 'Created', 'Last used', ''].map((c) => h('th', {}, c)))),
        h('tbody', {}, ...keys.map((key) => keyRow(key, () => render())))) : h('p', { className: 'note' }, 'No keys yet.'),
      submitting(h('form', { className: 'inline' }, field('New key name', { name: 'name', required: true, maxLength: 100 }), h('button', { type: 'submit' }, 'Create key')), line,
        async (data) => render(await api.createKey(String(data.get('name'))))),
      line)
  }
  await render()
  return section
}

/** Profile, password and API keys of the caller. */
export async function settingsView(session, { onSignedOut }) {
  const profile = await api.profile()
  const line = errorLine()
  const saved = h('p', { className: 'note', role: 'status' })
  const profileForm = submitting(h('form', { className: 'settings-block' },
    h('h3', {}, 'Profile'),
    field('Display name', { name: 'display_name', value: profile.display_name ?? '', maxLength: 200 }),
    field('Email', { name: 'email', type: 'email', value: profile.email ?? '' }),
    field('Default council', { name: 'default_council', value: profile.preferences.default_council ?? '', maxLength: 200, placeholder: 'the server default' }),
    h('button', { type: 'submit', className: 'primary' }, 'Save'), saved), line,
  async (data) => {
    const email = String(data.get('email')).trim()
    await api.updateProfile({
      display_name: String(data.get('display_name')).trim() || null,
      ...(email ? { email } : {}),
      preferences: { default_council: String(data.get('default_council')).trim() || null }
    })
    saved.textContent = 'Saved.'
  })
  const accountMode = session.mode === 'accounts' || session.mode === 'oidc'
  return h('div', { className: 'settings' },
    h('p', { className: 'note' }, 'Signed in as ', h('strong', {}, session.user.email ?? session.user.user_id),
      session.user.role === 'admin' ? ' (admin)' : ''),
    profileForm, line,
    session.password_sign_in && session.user.method === 'session' ? passwordChangeView(() => (saved.textContent = 'Password changed; your other sessions were signed out.'), { note: 'Changing it signs out your other sessions.', heading: 'h3', email: session.user.email }) : null,
    session.mode !== 'none' ? await keysSection() : null,
    accountMode ? h('section', { className: 'settings-block' }, h('h3', {}, 'Sessions'),
      h('button', { type: 'button', onclick: async () => { await api.signOut(true); onSignedOut() } }, 'Sign out everywhere')) : null)
}
