import { promises as fs } from 'node:fs'
import { basename, join, relative, resolve } from 'node:path'
import { isDatabaseUnavailable } from '../../db/errors.ts'
import type { ImportConversation, TransferRepo } from '../../repos/transfer.ts'
import { type SourceFile, discover } from './discover.ts'
import { BadFile, parseFile } from './parse.ts'

// Conversations per statement: large enough to save round trips, small enough to keep memory flat.
const BATCH = 25

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
  const target = resolve(backupDir)
  for (const path of paths) {
    if (resolve(path) === target || target.startsWith(`${resolve(path)}/`)) {
      throw new Error(`--backup ${backupDir} is inside ${path}: choose a directory outside the data`)
    }
  }
  await fs.mkdir(backupDir, { recursive: true })
  for (const path of paths) {
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

  const created = (c: ImportConversation, added: number) => {
    summary.conversationsCreated++
    summary.messagesAdded += added
    progress.messages += added
  }

  // It exists: append what the file has beyond the stored messages, change nothing else.
  const updateExisting = async (c: ImportConversation) => {
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

  const fail = (file: SourceFile, error: unknown) => {
    // A database that went away stops the run; anything else is this file's problem alone.
    if (isDatabaseUnavailable(error)) throw error
    const reason = error instanceof BadFile || isFileError(error) ? error.message : `the database refused it: ${(error as Error).message}`
    summary.failures.push({ path: relative(base, file.path), reason })
  }

  const done = () => {
    progress.filesDone++
    options.onProgress?.(progress)
  }

  /** Per file: create, or else update; for a dry run and for what a batch could not create. */
  const importOne = async (file: SourceFile, c: ImportConversation) => {
    try {
      const added = options.dryRun ? ((await repo.conversationState(c.id)) ? null : c.messages.length) : await repo.createConversation(c)
      if (added !== null) created(c, added)
      else await updateExisting(c)
    } catch (error) {
      fail(file, error)
    }
  }

  // New conversations go in a batch at a time (one statement, each still all-or-nothing), which is
  // most of the speed of a plain multi-row INSERT; the rest take the per-file path.
  let pending: { file: SourceFile; c: ImportConversation }[] = []
  const flush = async () => {
    const batch = pending
    pending = []
    if (batch.length === 0) return
    let ids: Set<string>
    try {
      ids = await repo.createConversations(batch.map((item) => item.c))
    } catch (error) {
      if (isDatabaseUnavailable(error)) throw error
      // One file the database refuses must not sink the others: go one by one.
      for (const { file, c } of batch) {
        await importOne(file, c)
        done()
      }
      return
    }
    for (const { file, c } of batch) {
      if (ids.has(c.id)) created(c, c.messages.length)
      else await updateExisting(c).catch((error: unknown) => fail(file, error))
      done()
    }
  }

  // One batch in flight at a time, and a worker that fills a batch waits for it: when the database is
  // slower than the disk, memory stays at one batch plus what each worker holds, not a batch per worker.
  let flushing = Promise.resolve()
  const flushInTurn = () => (flushing = flushing.then(flush))

  const importFile = async (file: SourceFile) => {
    let record
    try {
      record = parseFile(await fs.readFile(file.path, 'utf8'), file.owner ?? options.defaultUser)
    } catch (error) {
      fail(file, error)
      done()
      return
    }
    if (record.kind === 'conversation') {
      progress.conversations++
      summary.nulReplaced += record.nulReplaced
      if (record.sourceId) summary.idMappings.push({ path: relative(base, file.path), sourceId: record.sourceId, id: record.id })
      if (!options.dryRun) {
        pending.push({ file, c: record })
        if (pending.length >= BATCH) await flushInTurn()
        return
      }
      await importOne(file, record)
    } else {
      try {
        const createdRow = options.dryRun ? !(await repo.hasUsage(record.userId)) : await repo.createUsage(record)
        if (createdRow) summary.usageCreated++
        else summary.usageKept++
      } catch (error) {
        fail(file, error)
      }
    }
    done()
  }

  // A fixed number of workers pulling from the list: files in memory at once never exceed it.
  let next = 0
  const worker = async () => {
    while (next < files.length) await importFile(files[next++]!)
  }
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 8) }, worker))
  await flushInTurn()
  return summary
}

function isFileError(error: unknown): error is Error {
  return typeof (error as NodeJS.ErrnoException)?.code === 'string' && /^E[A-Z]+$/.test((error as NodeJS.ErrnoException).code!) &&
    (error as NodeJS.ErrnoException).syscall !== undefined
}
