import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import type { TransferRepo } from '../../repos/transfer.ts'
import { councilFile } from '../../services/conversation-export.ts'
import { userFolder } from '../folder-names.ts'

export interface ExportOptions {
  dir: string
  /** Only this user's data, written flat (`conversations/<id>.json`). */
  userId?: string
  pageSize?: number
  onProgress?: (done: number) => void
}

export interface ExportSummary {
  conversations: number
  messages: number
  usage: number
}

/**
 * Writes the store back out in llm-council's format, a page of conversations at a time (memory
 * stays flat): `conversations/<user_id>/<id>.json` (flat with a user filter) and `usage/<user_id>.json`.
 */
export async function runExport(repo: TransferRepo, options: ExportOptions): Promise<ExportSummary> {
  const limit = options.pageSize ?? 100
  const summary: ExportSummary = { conversations: 0, messages: 0, usage: 0 }
  const conversationsDir = join(options.dir, 'conversations')
  const madeDirs = new Set<string>()
  const ensureDir = async (dir: string) => {
    if (madeDirs.has(dir)) return
    await fs.mkdir(dir, { recursive: true })
    madeDirs.add(dir)
  }
  await ensureDir(conversationsDir)

  let after: { userId: string; id: string } | undefined
  for (;;) {
    const page = await repo.exportPage({ userId: options.userId, after, limit })
    if (page.length === 0) break
    await Promise.all(
      page.map(async (conversation) => {
        const dir = options.userId === undefined ? join(conversationsDir, userFolder(conversation.user_id)) : conversationsDir
        await ensureDir(dir)
        await fs.writeFile(join(dir, `${conversation.id}.json`), `${JSON.stringify(councilFile(conversation), null, 2)}\n`)
        summary.messages += conversation.messages.length
      })
    )
    summary.conversations += page.length
    options.onProgress?.(summary.conversations)
    const last = page.at(-1)!
    after = { userId: last.user_id, id: last.id }
  }

  const usageDir = join(options.dir, 'usage')
  let afterUser: string | undefined
  for (;;) {
    const rows = await repo.exportUsage({ userId: options.userId, after: afterUser, limit })
    if (rows.length === 0) break
    await ensureDir(usageDir)
    for (const row of rows) {
      await fs.writeFile(join(usageDir, `${userFolder(row.user_id)}.json`), `${JSON.stringify(row, null, 2)}\n`)
    }
    summary.usage += rows.length
    afterUser = rows.at(-1)!.user_id
  }
  return summary
}
