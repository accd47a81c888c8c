import { promises as fs } from 'node:fs'
import { basename, join, relative, resolve } from 'node:path'
import { isDatabaseUnavailable } from '../../db/connect.ts'
import type { ImportConversation, ImportUsage, TransferRepo } from '../../repos/transfer.ts'
import { type SourceFile, discover } from './discover.ts'
import { BadFile, parseFile } from './parse.ts'

export interface ImportOptions {
  paths: string[]
  /** Owner of files that name no user. */
  defaultUser: string
  dryRun?: boolean
  backupDir?: string
  /** Files in flight at once; memory stays flat whatever the size of the data dir. */
  concurrency?: number
  onProgress?: (progress: ImportProgress) => void
}

export interface ImportProgress {
  filesDone: number
  filesTotal: number
  conversations: number
  messages: number
}

export interface ImportSummary {
  files: number
  conversationsCreated: number
  conversationsUpdated: number
  conversationsUnchanged: number
  messagesAdded: number
  usageCreated: number
  usageKept: number
  nulReplaced: number
  idMappings: { path: string; sourceId: string; id: string }[]
  failures: { path: string; reason: string }[]
  dryRun: boolean
}

/** Copies every source into `backupDir`, keeping each argument's own name and layout. */
async function backup(paths: string[], backupDir: string): Promise<void> {
  await fs.mkdir(backupDir, { recursive: true })
  const target = resolve(backupDir)
  for (const path of paths) {
    if (resolve(path) === target || target.startsWith(`${resolve(path)}/`)) {
      throw new Error(`--backup ${backupDir} is inside ${path}: choose a directory outside the data`)
    }
    await fs.cp(path, join(backupDir, basename(resolve(path))), { recursive: true, force: true, preserveTimestamps: true })
  }
}

/**
 * Imports llm-council files: each file read, checked and written on its own, so a bad file is
 * reported and the rest go on. Running it again changes nothing; a file that gained messages adds
 * only those. Source files are only ever read.
 */
export async function runImport(repo: TransferRepo, options: ImportOptions): Promise<ImportSummary> {
  if (options.backupDir) await backup(options.paths, options.backupDir)
  const files = await discover(options.paths)
  const summary: ImportSummary = {
    files: files.length,
    conversationsCreated: 0,
    conversationsUpdated: 0,
    conversationsUnchanged: 0,
    messagesAdded: 0,
    usageCreated: 0,
    usageKept: 0,
    nulReplaced: 0,
    idMappings: [],
    failures: [],
    dryRun: Boolean(options.dryRun)
  }
  const progress: ImportProgress = { filesDone: 0, filesTotal: files.length, conversations: 0, messages: 0 }
  const base = process.cwd()

  const importConversation = async (file: SourceFile, c: ImportConversation) => {
    summary.nulReplaced += c.nulReplaced
    if (c.sourceId) summary.idMappings.push({ path: relative(base, file.path), sourceId: c.sourceId, id: c.id })
    // Most files are new: try to create first (one statement), look the row up only when it exists.
    const added = options.dryRun
      ? (await repo.conversationState(c.id)) ? null : c.messages.length
      : await repo.createConversation(c)
    if (added !== null) {
      summary.conversationsCreated++
      summary.messagesAdded += added
      progress.messages += added
      return
    }
    // It exists: append what is new, change nothing else.
    const state = (await repo.conversationState(c.id))!
    if (state.userId !== c.userId) throw new BadFile(`conversation ${c.id} already belongs to another user`)
    if (c.messages.length <= state.messageCount) {
      summary.conversationsUnchanged++
      return
    }
    const appended = options.dryRun ? c.messages.length - state.messageCount : await repo.appendMessages(c, state.messageCount)
    summary.conversationsUpdated++
    summary.messagesAdded += appended
    progress.messages += appended
  }

  const importUsage = async (u: ImportUsage) => {
    const created = options.dryRun ? !(await repo.hasUsage(u.userId)) : await repo.createUsage(u)
    if (created) summary.usageCreated++
    else summary.usageKept++
  }

  const importFile = async (file: SourceFile) => {
    try {
      const record = parseFile(await fs.readFile(file.path, 'utf8'), file.owner ?? options.defaultUser)
      if (record.kind === 'usage') await importUsage(record)
      else await importConversation(file, record)
      if (record.kind === 'conversation') progress.conversations++
    } catch (error) {
      // A database that went away stops the run; anything else is this file's problem alone.
      if (isDatabaseUnavailable(error)) throw error
      const reason = error instanceof BadFile || isFileError(error) ? error.message : `the database refused it: ${(error as Error).message}`
      summary.failures.push({ path: relative(base, file.path), reason })
    } finally {
      progress.filesDone++
      options.onProgress?.(progress)
    }
  }

  // A fixed number of workers pulling from the list: files in memory at once never exceed it.
  let next = 0
  const worker = async () => {
    while (next < files.length) await importFile(files[next++]!)
  }
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 8) }, worker))
  return summary
}

function isFileError(error: unknown): error is Error {
  return typeof (error as NodeJS.ErrnoException)?.code === 'string' && /^E[A-Z]+$/.test((error as NodeJS.ErrnoException).code!) &&
    (error as NodeJS.ErrnoException).syscall !== undefined
}
