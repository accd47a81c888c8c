import type { NotKept } from '../../repos/transfer.ts'
import type { WriteSummary } from './writer.ts'

// The lines every import's summary shares, worded once.

/** What was (or, in a dry run, would be) written: conversations, messages, usage. */
export function writtenLines(summary: WriteSummary, dryRun: boolean): string[] {
  const verb = dryRun ? 'would be ' : ''
  return [
    `conversations: ${summary.conversationsCreated} ${verb}created, ${summary.conversationsUpdated} ${verb}updated, ${summary.conversationsUnchanged} unchanged`,
    `messages: ${summary.messagesAdded} ${verb}added`,
    `usage: ${summary.usageCreated} users ${verb}added, ${summary.usageKept} kept (they already had a row)`
  ]
}

/** Characters replaced with U+FFFD, and each field with no place here by how many sources (`file`, `row`) held it. */
export function replacedAndNotKept(replacedCharacters: number, notKept: NotKept, unit: string): string[] {
  const lines = replacedCharacters > 0 ? [`characters PostgreSQL cannot store (NUL, half surrogate pairs) replaced with U+FFFD: ${replacedCharacters}`] : []
  for (const [field, count] of Object.entries(notKept).sort(([a], [b]) => a.localeCompare(b))) lines.push(`not kept: ${field} in ${count} ${unit}${count === 1 ? '' : 's'}`)
  return lines
}

export const ID_MAPPINGS_HEADING = 'ids that were not UUIDs, mapped (the same on every run; the app and the API open them by the old id too)'

/** The sources that could not be imported (`files`, `rows`), each with its reason. */
export function failureLines(failures: WriteSummary['failures'], what: string): string[] {
  if (failures.length === 0) return []
  return [`${what} that could not be imported (${failures.length}):`, ...failures.map((f) => `  ${f.path}: ${f.reason}`)]
}

export function stoppedLines(stopped: string | undefined): string[] {
  return stopped ? [`stopped: ${stopped}; run the same command again to go on (it skips what is in)`] : []
}
