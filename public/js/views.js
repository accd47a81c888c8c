import { h, spinner, tabs, timeUntil } from './dom.js'
import { markdown } from './markdown.js'

const shortName = (model) => String(model ?? '').split('/').pop()

function userMessage(message) {
  return h('article', { className: 'message user', 'aria-label': 'You asked' },
    h('div', { className: 'message-label' }, 'You'),
    markdown(message.content, 'markdown user-text'))
}

/** "Response B" → the model behind it, in the ranking text a model wrote. */
function deAnonymise(text, labelToModel) {
  return Object.entries(labelToModel ?? {}).reduce(
    (out, [label, model]) => out.replaceAll(label, `**${shortName(model)}**`),
    String(text ?? '')
  )
}

function stage3Card(message) {
  const { stage3, metadata, pending } = message
  if (!stage3) {
    return pending?.stage === 3 ? h('section', { className: 'stage stage3' }, spinner('Stage 3: the chairman is writing the final answer…')) : null
  }
  const fallback = metadata?.chairman_fallback
  return h('section', { className: 'stage stage3', 'aria-label': 'Final answer' },
    h('h3', {}, 'Final answer ', h('span', { className: 'model' }, `by ${shortName(stage3.model)}`)),
    fallback ? h('p', { className: 'note' }, `The chairman (${fallback.failed_model}) failed; ${fallback.used_model}, the best-ranked council model, wrote this instead.`) : null,
    markdown(stage3.response, 'markdown final'))
}

function stage1Section(message) {
  const { stage1, pending } = message
  if (!stage1) return pending?.stage === 1 ? h('section', { className: 'stage' }, spinner('Stage 1: the council is answering…')) : null
  return h('details', { className: 'stage stage1', open: pending ? true : undefined },
    h('summary', {}, `Stage 1 · ${stage1.length} individual answers`),
    stage1.length === 0 ? h('p', { className: 'note' }, 'No model answered.') :
      tabs(stage1.map((answer) => ({ label: shortName(answer.model), render: () => h('div', {}, h('p', { className: 'model-full' }, answer.model), markdown(answer.response)) })), 'Individual answers'))
}

function stage2Section(message) {
  const { stage2, metadata, pending } = message
  if (!stage2) return pending?.stage === 2 ? h('section', { className: 'stage' }, spinner('Stage 2: the models are ranking each other…')) : null
  const labels = metadata?.label_to_model ?? {}
  const aggregate = metadata?.aggregate_rankings ?? []
  return h('details', { className: 'stage stage2', open: pending ? true : undefined },
    h('summary', {}, `Stage 2 · ${stage2.length} peer rankings`),
    stage2.length === 0 ? h('p', { className: 'note' }, 'No rankings came back.') :
      tabs(stage2.map((ranking) => ({
        label: shortName(ranking.model),
        render: () => h('div', {},
          h('p', { className: 'note' }, 'Answers were shown as "Response A", "Response B"…; the names below are added back for you.'),
          markdown(deAnonymise(ranking.ranking, labels)),
          ranking.parsed_ranking?.length ? h('div', { className: 'parsed' }, h('h4', {}, 'Ranking as read'),
            h('ol', {}, ranking.parsed_ranking.map((label) => h('li', {}, labels[label] ?? label)))) : null)
      })), 'Peer rankings'),
    aggregate.length ? h('div', { className: 'aggregate' },
      h('h4', {}, 'Aggregate ranking'),
      h('table', {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, '#'), h('th', { scope: 'col' }, 'Model'), h('th', { scope: 'col' }, 'Average rank'), h('th', { scope: 'col' }, 'Votes'))),
        h('tbody', {}, aggregate.map((row, i) => h('tr', {}, h('td', {}, i + 1), h('td', {}, row.model), h('td', {}, row.average_rank.toFixed(2)), h('td', {}, row.rankings_count)))))) : null)
}

function errorsNote(metadata) {
  const errors = metadata?.errors ?? []
  if (errors.length === 0) return null
  return h('details', { className: 'model-errors' },
    h('summary', {}, `${errors.length} model call${errors.length === 1 ? '' : 's'} failed`),
    h('ul', {}, errors.map((e) => h('li', {}, `${e.model} (${e.stage}): ${e.status ?? 'no response'} ${e.message}`))))
}

export function assistantMessage(message) {
  return h('article', { className: 'message assistant', 'aria-label': 'Council answer', 'aria-busy': message.pending ? 'true' : undefined },
    h('div', { className: 'message-label' }, 'LLM Council'),
    stage3Card(message),
    stage1Section(message),
    stage2Section(message),
    errorsNote(message.metadata),
    message.error ? h('p', { className: 'error', role: 'alert' }, message.error) : null)
}

export function messageView(message) {
  return message.role === 'user' ? userMessage(message) : assistantMessage(message)
}

/** What a 429 means to a person: which limit, and when it frees up. */
export function limitText(error) {
  const usage = error.body?.usage
  if (!usage) return 'Too many requests: wait a moment and try again.'
  const monthly = usage.monthly_limit !== null && usage.monthly_used >= usage.monthly_limit
  return monthly
    ? `Monthly limit reached (${usage.monthly_used}/${usage.monthly_limit}): resets in ${timeUntil(usage.monthly_resets_at)}.`
    : `Daily limit reached (${usage.daily_used}/${usage.daily_limit}): resets in ${timeUntil(usage.daily_resets_at)}.`
}

export function usageMeter(usage) {
  const part = (label, used, limit) =>
    h('div', { className: 'meter' },
      h('span', {}, label),
      limit === null ? h('span', {}, `${used} · unlimited`) : h('meter', { min: 0, max: limit, value: used, 'aria-label': `${label}: ${used} of ${limit}` }),
      limit === null ? null : h('span', {}, `${used} / ${limit}`))
  return [
    h('div', { className: 'usage-title' }, `Usage · ${usage.tier} tier`),
    part('Today', usage.daily_used, usage.daily_limit),
    part('This month', usage.monthly_used, usage.monthly_limit)
  ]
}
