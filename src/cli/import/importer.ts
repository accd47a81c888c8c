import { constants, promises as fs } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { errorCode, isDatabaseUnavailable } from '../../db/errors.ts'
import type { NotKept, TransferRepo } from '../../repos/transfer.ts'
import { type SourceFile, discover } from './discover.ts'
import { BadFile, decodeFile, parseFile } from './parse.ts'
import { ImportWriter, type WriteSummary, emptyWriteSummary } from './writer.ts'

export interface ImportOptions {
  paths: string[]
  /** What relative paths (and `backupDir`) are relative to: where the user ran the command. Default: the working directory. */
  baseDir?: string
  /** Owner of files that name no user. */
  defaultUser: string
  dryRun?: boolean
  backupDir?: string
  /** Files in flight at once; memory stays flat whatever the size of the data dir. */
  concurrency?: number
  /** Larger files are refused (each with its own line), so memory stays bounded. */
  maxFileBytes?: number
  onProgress?: (progress: ImportProgress) => void
}

export interface ImportProgress {
  filesDone: number
  filesTotal: number
  conversations: number
  messages: number
}

export interface ImportSummary extends WriteSummary {
  files: number
  /** NUL characters and lone surrogates, which PostgreSQL cannot store, replaced with U+FFFD. */
  replacedCharacters: number
  /** Invalid UTF-8 sequences in files, read as U+FFFD. */
  invalidUtf8: number
  idMappings: { path: string; sourceId: string; id: string }[]
  /** Fields with no place here (so not imported): field name -> in how many files. */
  notKept: NotKept
  /** Paths named or found that are not regular files, and so not read. */
  skipped: { path: string; reason: string }[]
  /** Why the run stopped before the last file, if it did. */
  stopped?: string
  dryRun: boolean
}

/**
 * The default of `--max-file-mb`. llm-council's largest conversations are a few MB; a file takes about
 * ten times its size in memory while it is read, checked and written, so this keeps an import of any
 * data dir within about 400 MB of heap.
 */
export const DEFAULT_MAX_FILE_BYTES = 32 * 1024 * 1024
// File bytes in flight at once, shared by the workers: large files take their turn one after another.
const READ_BUDGET_BYTES = 32 * 1024 * 1024

/** Copies every source into `backupDir`, keeping each argument's own name and layout. */
async function backup(paths: string[], backupDir: string, baseDir: string): Promise<void> {
  const target = resolve(baseDir, backupDir)
  for (const path of paths) {
    const source = resolve(baseDir, path)
    if (source === target || target.startsWith(`${source}/`)) {
      throw new Error(`--backup ${backupDir} is inside ${path}: choose a directory outside the data`)
    }
  }
  await fs.mkdir(target, { recursive: true })
  for (const path of paths) {
    const source = resolve(baseDir, path)
    await fs.cp(source, join(target, basename(source)), { recursive: true, force: true, preserveTimestamps: true })
  }
}

/** Adds one source's fields with no place here to the run's count of sources that held each. */
export function countNotKept(total: NotKept, source: NotKept | undefined): void {
  for (const field of Object.keys(source ?? {})) total[field] = (total[field] ?? 0) + 1
}

/**
 * Imports llm-council files: each file read, checked and written on its own, so a bad file is
 * reported and the rest go on. Running it again changes nothing; a file that gained messages adds
 * only those. Source files are only ever read.
 */
export async function runImport(repo: TransferRepo, options: ImportOptions): Promise<ImportSummary> {
  const baseDir = options.baseDir ?? process.cwd()
  if (options.backupDir) await backup(options.paths, options.backupDir, baseDir)
  const { files, skipped } = await discover(options.paths, baseDir)
  const summary: ImportSummary = {
    files: files.length,
    ...emptyWriteSummary(),
    replacedCharacters: 0,
    invalidUtf8: 0,
    idMappings: [],
    notKept: {},
    skipped,
    dryRun: Boolean(options.dryRun)
  }
  const progress: ImportProgress = { filesDone: 0, filesTotal: files.length, conversations: 0, messages: 0 }
  const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES
  const budget = new ByteBudget(Math.max(READ_BUDGET_BYTES, maxFileBytes))
  const done = () => {
    progress.filesDone++
    progress.messages = summary.messagesAdded
    options.onProgress?.(progress)
  }
  const writer = new ImportWriter(repo, summary, { dryRun: options.dryRun, onSettled: done })

  const importFile = async (file: SourceFile) => {
    let record
    try {
      record = await readFile(file.path, maxFileBytes, budget, (bytes) => {
        const { text, invalidUtf8 } = decodeFile(bytes)
        summary.invalidUtf8 += invalidUtf8
        return parseFile(text, file.owner ?? options.defaultUser)
      })
    } catch (error) {
      writer.fail(file.shown, error)
      done()
      return
    }
    countNotKept(summary.notKept, record.notKept)
    if (record.kind === 'conversation') {
      progress.conversations++
      summary.replacedCharacters += record.replacedCharacters
      if (record.sourceId) summary.idMappings.push({ path: file.shown, sourceId: record.sourceId, id: record.id })
      await writer.conversation(file.shown, record)
    } else {
      await writer.usage(file.shown, record)
    }
  }

  // A fixed number of workers pulling from the list: files in memory at once never exceed it. A
  // database that goes away stops them all; the summary still says what was done.
  let next = 0
  const worker = async () => {
    while (next < files.length && summary.stopped === undefined) await importFile(files[next++]!)
  }
  try {
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 8) }, worker))
    await writer.finish()
    // Files finish in any order; the summary lists them by path.
    summary.idMappings.sort((a, b) => a.path.localeCompare(b.path))
    summary.failures.sort((a, b) => a.path.localeCompare(b.path))
  } catch (error) {
    if (!isDatabaseUnavailable(error)) throw error
    summary.stopped = `the database became unavailable (${errorCode(error) ?? (error as Error).message}) after ${progress.filesDone} of ${files.length} files`
  }
  return summary
}

/**
 * Opens a listed file (without blocking, should it have become a FIFO since), checks on the open file
 * that it is a regular file within `maxBytes`, and hands its bytes to `use` within the budget. The
 * size comes from the open file, so no file is ever read past the limit.
 */
async function readFile<T>(path: string, maxBytes: number, budget: ByteBudget, use: (bytes: Buffer) => T): Promise<T> {
  const handle = await fs.open(path, constants.O_RDONLY | constants.O_NONBLOCK)
  try {
    const stat = await handle.stat()
    if (!stat.isFile()) throw new BadFile('not a regular file (it changed after it was listed)')
    if (stat.size > maxBytes) throw new BadFile(`${megabytes(stat.size)} MB, over the ${megabytes(maxBytes)} MB a file may be (--max-file-mb)`)
    return await budget.use(stat.size, async () => {
      // One read of the size just checked (FileHandle.readFile would fstat again and read in chunks).
      const bytes = Buffer.allocUnsafe(stat.size)
      let filled = 0
      while (filled < bytes.length) {
        const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled)
        if (bytesRead === 0) break
        filled += bytesRead
      }
      return use(bytes.subarray(0, filled))
    })
  } finally {
    await handle.close()
  }
}

const megabytes = (bytes: number) => (bytes / 1024 / 1024).toFixed(1).replace(/\.0$/, '')

/** Bytes that may be held at once; `use` waits until its share is free. A share over the whole budget waits for all of it. */
class ByteBudget {
  #free: number
  #total: number
  #waiting: (() => void)[] = []

  constructor(total: number) {
    this.#free = this.#total = total
  }

  async use<T>(bytes: number, work: () => Promise<T>): Promise<T> {
    const share = Math.min(bytes, this.#total)
    while (this.#free < share) await new Promise<void>((resolve) => this.#waiting.push(resolve))
    this.#free -= share
    try {
      return await work()
    } finally {
      this.#free += share
      for (const wake of this.#waiting.splice(0)) wake()
    }
  }
}
