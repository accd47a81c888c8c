import type { AssistantMetadata, Stage1Result, Stage2Result, Stage3Result } from '../council/types.ts'
import type { ExportConversation } from '../repos/transfer.ts'

/** llm-council's timestamp: naive UTC, `YYYY-MM-DDTHH:MM:SS[.ffffff]`. */
export function naiveUtc(iso: string): string {
  const [, base, fraction] = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z$/.exec(iso) ?? []
  if (!base) return iso
  const micros = (fraction ?? '').padEnd(6, '0').slice(0, 6)
  return /^0+$/.test(micros) ? base : `${base}.${micros}`
}

/** A conversation as an llm-council JSON file (what import-json reads back). */
export function councilFile(conversation: ExportConversation) {
  return {
    id: conversation.id,
    user_id: conversation.user_id,
    created_at: naiveUtc(conversation.created_at),
    updated_at: naiveUtc(conversation.updated_at),
    title: conversation.title,
    starred: conversation.starred,
    // Each message with its own time, which import-json reads back (llm-council itself ignores it).
    messages: conversation.messages.map((message) => {
      const created_at = naiveUtc(message.created_at)
      if (message.role === 'user') {
        const { kind, content } = message
        return kind ? { role: 'user', kind, content: content ?? '', created_at } : { role: 'user', content: content ?? '', created_at }
      }
      const { metadata, created_at: _, ...stages } = message
      return metadata === null ? { ...stages, created_at } : { ...stages, metadata, created_at }
    })
  }
}

/** `text` as an inline code span, whatever backticks it holds. */
function code(text: string): string {
  const fence = '`'.repeat(Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length)) + 1)
  return fence.length > 1 || text.startsWith(' ') ? `${fence} ${text} ${fence}` : `${fence}${text}${fence}`
}

const cell = (text: string) => text.replaceAll('|', '\\|').replace(/\r?\n/g, ' ')

const STATUS_NOTES: Partial<Record<NonNullable<AssistantMetadata['status']>, string>> = {
  degraded: 'Some council members did not answer.',
  failed: 'The council could not answer this question.',
  cancelled: 'Stopped before the council finished.',
  interrupted: 'Interrupted (the server stopped) before the council finished.'
}

function rankings(stage2: Stage2Result[], metadata: AssistantMetadata | null): string[] {
  const labels = metadata?.label_to_model ?? {}
  const named = (label: string) => (labels[label] ? code(labels[label]) : label)
  const lines: string[] = []
  const aggregate = metadata?.aggregate_rankings ?? []
  if (aggregate.length > 0) {
    lines.push('| Rank | Model | Average position | Rankings |', '| ---: | --- | ---: | ---: |')
    aggregate.forEach((row, i) => lines.push(`| ${i + 1} | ${cell(code(row.model))} | ${row.average_rank.toFixed(2)} | ${row.rankings_count} |`))
    lines.push('')
  }
  for (const review of stage2) {
    const order = review.parsed_ranking.length > 0 ? review.parsed_ranking.map((label, i) => `${i + 1}. ${named(label)}`).join(' · ') : 'no ranking could be read'
    lines.push(`- ${code(review.model)}: ${order}`)
  }
  return lines
}

function answer(stage1: Stage1Result[] | null, stage2: Stage2Result[] | null, stage3: Stage3Result | null, metadata: AssistantMetadata | null): string[] {
  const lines: string[] = []
  const note = metadata?.status ? STATUS_NOTES[metadata.status] : undefined
  if (note) lines.push(`> ${note}`, '')
  if (stage3) lines.push(`### Final answer (${code(stage3.model)}, chairman)`, '', stage3.response.trim(), '')
  const modelLabels = Object.fromEntries(Object.entries(metadata?.label_to_model ?? {}).map(([label, model]) => [model, label]))
  if (stage1 && stage1.length > 0) {
    lines.push('### Council answers', '')
    for (const member of stage1) {
      const label = modelLabels[member.model]
      lines.push(`#### ${code(member.model)}${label ? ` (${label})` : ''}`, '', member.response.trim(), '')
    }
  }
  if (stage2 && stage2.length > 0) lines.push('### Rankings', '', ...rankings(stage2, metadata), '')
  return lines
}

/**
 * A conversation as Markdown that reads well on GitHub: each question, its final answer first, then
 * every council answer and the rankings, their labels resolved to models.
 */
export function conversationMarkdown(conversation: ExportConversation): string {
  const lines = [`# ${conversation.title.replace(/\r?\n/g, ' ')}`, '', `*LLM Council conversation, started ${naiveUtc(conversation.created_at).slice(0, 16).replace('T', ' ')} UTC*`, '']
  let question = 0
  for (const message of conversation.messages) {
    if (message.role === 'user') {
      const title = message.kind === 'follow_up' ? 'Follow-up' : `Question ${++question}`
      lines.push('---', '', `## ${title}`, '', (message.content ?? '').trim(), '')
    } else {
      lines.push(...answer(message.stage1, message.stage2, message.stage3, message.metadata))
    }
  }
  return `${lines.join('\n').trimEnd()}\n`
}
