import { h, spinner, tabs, timeUntil } from './dom.js'
import { markdown } from './markdown.js'

const shortName = (model) => String(model ?? '').split('/').pop()

function userMessage(message) {
  const followUp = message.kind === 'follow_up'
  return h('article', { className: `message user${followUp ? ' follow-up' : ''}`, 'aria-label': followUp ? 'Your follow-up' : 'You asked' },
    h('div', { className: 'message-label' }, followUp ? 'You added (no council run)' : 'You'),
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
    if (pending?.stage !== 3) return null
    const live = message.live?.stage3
    return h('section', { className: 'stage stage3 live', 'aria-label': 'Final answer, being written' },
      spinner(live ? `Stage 3: ${shortName(live.model)} is writing the final answer…` : 'Stage 3: the chairman is writing the final answer…'),
      live ? markdown(live.text, 'markdown final live-text') : null)
  }
  const fallback = metadata?.chairman_fallback
  return h('section', { className: 'stage stage3', 'aria-label': 'Final answer' },
    h('h3', {}, 'Final answer ', h('span', { className: 'model' }, `by ${shortName(stage3.model)}`)),
    fallback ? h('p', { className: 'note' }, `The chairman (${fallback.failed_model}) failed; ${fallback.used_model}, the best-ranked council model, wrote this instead.`) : null,
    markdown(stage3.response, 'markdown final'))
}

const STATUS_TITLES = { failed: 'Failed. ', degraded: 'Incomplete. ', cancelled: 'Stopped. ', interrupted: 'Interrupted. ' }

/** At the top of an answer that is not whole: what is missing, and a button to run just that again. */
function statusBanner(message, onRetry) {
  const status = message.metadata?.status
  if (message.pending || !STATUS_TITLES[status]) return null
  const missing = message.metadata.missing ?? []
  const reviewsMissing = (message.stage1?.length ?? 0) > 0 && message.metadata.council?.stage2 !== false && (message.stage2?.length ?? 0) < message.stage1.length
  const parts = [
    missing.length ? `${missing.map(shortName).join(', ')} did not answer` : null,
    reviewsMissing ? 'some reviews are missing' : null,
    message.metadata.chairman_fallback ? 'the chairman failed' : null
  ].filter(Boolean)
  const text = status === 'failed'
    ? `The council could not answer${parts.length ? `: ${parts.join('; ')}` : ''}.`
    : status === 'degraded'
      ? `Degraded answer: ${parts.join('; ')}.`
      : `${status === 'cancelled' ? 'You stopped this run' : 'The server stopped during this run'}; what was finished is kept${parts.length ? ` (${parts.join('; ')})` : ''}.`
  return h('div', { className: `status-banner ${status}`, role: 'status' },
    h('strong', {}, STATUS_TITLES[status]), text,
    onRetry ? h('button', { type: 'button', className: 'retry', onclick: (event) => { event.target.disabled = true; onRetry() } },
      status === 'failed' ? 'Retry' : 'Retry what failed') : null)
}

/** Said when the models did not see the whole conversation. */
function contextNote(metadata) {
  const context = metadata?.context
  if (!context || context.turns_dropped === 0) return null
  return h('p', { className: 'note context-note' },
    `The council saw the last ${context.turns_included} exchange${context.turns_included === 1 ? '' : 's'} of this conversation; ` +
    `${context.turns_dropped} older one${context.turns_dropped === 1 ? ' was' : 's were'} left out to fit ${context.budget_chars.toLocaleString()} characters.`)
}

const formatCost = (cost) => `$${cost < 0.01 ? cost.toFixed(6).replace(/0+$/, '') : cost.toFixed(4)}`

/** Tokens and cost of the calls behind an answer (calls whose provider said nothing are counted as unknown). */
export function tokensLine(usage, prefix = 'Tokens') {
  if (!usage || usage.calls === 0) return null
  const known = usage.calls - usage.unknown_calls
  if (known <= 0 && usage.prompt_tokens === 0 && usage.completion_tokens === 0) {
    return h('p', { className: 'note tokens' }, `${prefix}: not reported by the provider (${usage.calls} call${usage.calls === 1 ? '' : 's'})`)
  }
  return h('p', { className: 'note tokens' },
    `${prefix}: ${usage.prompt_tokens.toLocaleString()} in · ${usage.completion_tokens.toLocaleString()} out · cost ${known > 0 ? formatCost(usage.cost) : 'unknown'}` +
    (usage.unknown_calls > 0 && known > 0 ? ` (${usage.unknown_calls} call${usage.unknown_calls === 1 ? '' : 's'} reported no usage)` : ''))
}

function stage1Section(message) {
  const { stage1, pending } = message
  if (!stage1) {
    if (pending?.stage !== 1) return null
    const live = Object.entries(message.live?.stage1 ?? {})
    return h('section', { className: 'stage live' }, spinner('Stage 1: the council is answering…'),
      live.map(([model, text]) => h('div', { className: 'live-answer' },
        h('p', { className: 'model-full' }, message.live.done[model] ? `${model} ✓` : `${model} is writing…`),
        markdown(text, 'markdown live-text'))))
  }
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
          h('p', { className: 'note' }, 'Answers were shown without names, each reviewer in its own order; the names are added back for you.'),
          ranking.reviewer_labels ? h('p', { className: 'note reviewer-order' }, 'Order this reviewer saw: ',
            Object.values(ranking.reviewer_labels).map((label) => shortName(labels[label] ?? label)).join(', ')) : null,
          markdown(deAnonymise(ranking.ranking, labels)),
          ranking.parsed_ranking?.length ? h('div', { className: 'parsed' }, h('h4', {}, 'Ranking as read'),
            h('ol', {}, ranking.parsed_ranking.map((label) => h('li', {}, labels[label] ?? label)))) : null,
          ranking.unknown_labels?.length ? h('p', { className: 'note' }, `It also named ${ranking.unknown_labels.join(', ')}, which it was never shown.`) : null)
      })), 'Peer rankings'),
    aggregate.length ? aggregateTable(metadata) : null)
}

function aggregateTable(metadata) {
  const borda = new Map((metadata.aggregate_borda ?? []).map((row) => [row.model, row.points]))
  const agreement = metadata.agreement
  const selfVotes = metadata.council?.exclude_self_votes
  return h('div', { className: 'aggregate' },
    h('h4', {}, 'Aggregate ranking'),
    h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, '#'), h('th', { scope: 'col' }, 'Model'), h('th', { scope: 'col' }, 'Average rank'),
        borda.size ? h('th', { scope: 'col' }, 'Borda points') : null, h('th', { scope: 'col' }, 'Votes'))),
      h('tbody', {}, metadata.aggregate_rankings.map((row, i) => h('tr', {}, h('td', {}, i + 1), h('td', {}, row.model), h('td', {}, row.average_rank.toFixed(2)),
        borda.size ? h('td', {}, borda.get(row.model) ?? 0) : null, h('td', {}, row.rankings_count))))),
    h('p', { className: 'note agreement' },
      agreement ? `Agreement between reviewers (Kendall's W): ${agreement.value === null ? 'not measurable' : agreement.value.toFixed(2)} over ${agreement.reviewers} full ranking${agreement.reviewers === 1 ? '' : 's'}.` : null,
      selfVotes ? ' A reviewer\'s vote for its own answer is not counted.' : null))
}

function errorsNote(metadata) {
  const errors = metadata?.errors ?? []
  if (errors.length === 0) return null
  return h('details', { className: 'model-errors' },
    h('summary', {}, `${errors.length} model call${errors.length === 1 ? '' : 's'} failed`),
    h('ul', {}, errors.map((e) => h('li', {}, `${e.model} (${e.stage}): ${e.status ?? 'no response'} ${e.message}`))))
}

export function assistantMessage(message, onRetry) {
  return h('article', { className: 'message assistant', 'aria-label': 'Council answer', 'aria-busy': message.pending ? 'true' : undefined },
    h('div', { className: 'message-label' }, 'LLM Council'),
    statusBanner(message, onRetry),
    contextNote(message.metadata),
    stage3Card(message),
    stage1Section(message),
    stage2Section(message),
    errorsNote(message.metadata),
    message.pending ? null : tokensLine(message.metadata?.usage),
    message.error ? h('p', { className: 'error', role: 'alert' }, message.error) : null)
}

/** A message; `onRetry(position)` offered on an answer that failed or is incomplete. */
export function messageView(message, position, onRetry) {
  return message.role === 'user' ? userMessage(message) : assistantMessage(message, onRetry ? () => onRetry(position) : null)
}

/** What a 429 means to a person: which limit, and when it frees up. */
export function limitText(error) {
  const usage = error.body?.usage
  if (!usage) return 'Too many requests: wait a moment and try again.'
  if (error.body?.code === 'COST_BUDGET_REACHED') return `Monthly cost budget reached: resets in ${timeUntil(usage.monthly_resets_at)}.`
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
  const month = usage.tokens?.month
  return [
    h('div', { className: 'usage-title' }, `Usage · ${usage.tier} tier`),
    part('Today', usage.daily_used, usage.daily_limit),
    part('This month', usage.monthly_used, usage.monthly_limit),
    tokensLine(month, 'This month'),
    usage.monthly_cost_limit !== null && usage.monthly_cost_limit !== undefined
      ? h('p', { className: 'note' }, `Monthly budget: ${formatCost(month?.cost ?? 0)} of ${formatCost(usage.monthly_cost_limit)}`) : null
  ].filter(Boolean)
}
