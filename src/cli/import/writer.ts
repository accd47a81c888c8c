import { isDatabaseUnavailable } from '../../db/errors.ts'
import type { ImportConversation, ImportUsage, TransferRepo } from '../../repos/transfer.ts'
import { failureReason } from './failure.ts'
import { BadFile } from './parse.ts'

// Conversations per statement: large enough to save round trips, small enough to keep memory flat.
const BATCH = 25

/** What an import wrote (or, in a dry run, would write), and what it could not. */
export interface WriteSummary {
  conversationsCreated: number
  conversationsUpdated: number
  conversationsUnchanged: number
  messagesAdded: number
  usageCreated: number
  usageKept: number
  /** Each source (a file, an old database's row) that could not be imported, and why. */
  failures: { path: string; reason: string }[]
}

export function emptyWriteSummary(): WriteSummary {
  return { conversationsCreated: 0, conversationsUpdated: 0, conversationsUnchanged: 0, messagesAdded: 0, usageCreated: 0, usageKept: 0, failures: [] }
}

export interface WriterOptions {
  dryRun?: boolean
  /** Called once for each conversation or usage record when it is settled (written, kept or failed). */
  onSettled?: () => void
}

/**
 * Writes what an import read, whatever it read it from: a new conversation in a batch with others,
 * one that exists gets only the messages it gained, a usage record only for a user without one.
 * Each source is its own unit: one the database refuses is reported and the others go on; a database
 * that went away throws, to stop the run. Running it again changes nothing.
 */
export class ImportWriter {
  #repo: TransferRepo
  #summary: WriteSummary
  #options: WriterOptions
  #pending: { source: string; c: ImportConversation }[] = []
  // One batch in flight at a time, and a caller that fills a batch waits for it: when the database is
  // slower than the source, memory stays at one batch plus what each caller holds.
  #flushing = Promise.resolve()

  constructor(repo: TransferRepo, summary: WriteSummary, options: WriterOptions = {}) {
    this.#repo = repo
    this.#summary = summary
    this.#options = options
  }

  /** Records why `source` was not imported; a database that went away is rethrown instead. */
  fail(source: string, error: unknown): void {
    if (isDatabaseUnavailable(error)) throw error
    this.#summary.failures.push({ path: source, reason: failureReason(error) })
  }

  async conversation(source: string, c: ImportConversation): Promise<void> {
    if (this.#options.dryRun) {
      await this.#one(source, c)
      this.#options.onSettled?.()
      return
    }
    this.#pending.push({ source, c })
    if (this.#pending.length >= BATCH) await this.#flushInTurn()
  }

  async usage(source: string, u: ImportUsage): Promise<void> {
    try {
      const created = this.#options.dryRun ? !(await this.#repo.hasUsage(u.userId)) : await this.#repo.createUsage(u)
      if (created) this.#summary.usageCreated++
      else this.#summary.usageKept++
    } catch (error) {
      this.fail(source, error)
    }
    this.#options.onSettled?.()
  }

  /** Writes what is still queued. */
  finish(): Promise<void> {
    return this.#flushInTurn()
  }

  #flushInTurn(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#flush())
    return this.#flushing
  }

  #created(c: ImportConversation, added: number): void {
    this.#summary.conversationsCreated++
    this.#summary.messagesAdded += added
  }

  // It exists: append what the source has beyond the stored messages, change nothing else.
  async #updateExisting(c: ImportConversation): Promise<void> {
    const state = (await this.#repo.conversationState(c.id))!
    if (state.userId !== c.userId) throw new BadFile(`conversation ${c.id} already belongs to another user`)
    if (c.messages.length <= state.messageCount) {
      this.#summary.conversationsUnchanged++
      return
    }
    const appended = this.#options.dryRun ? c.messages.length - state.messageCount : await this.#repo.appendMessages(c, state.messageCount)
    this.#summary.conversationsUpdated++
    this.#summary.messagesAdded += appended
  }

  /** One at a time: create, or else update; for a dry run and for what a batch could not create. */
  async #one(source: string, c: ImportConversation): Promise<void> {
    try {
      const added = this.#options.dryRun ? ((await this.#repo.conversationState(c.id)) ? null : c.messages.length) : await this.#repo.createConversation(c)
      if (added !== null) this.#created(c, added)
      else await this.#updateExisting(c)
    } catch (error) {
      this.fail(source, error)
    }
  }

  // New conversations go in a batch at a time (one statement, each still all-or-nothing), which is
  // most of the speed of a plain multi-row INSERT; the rest take the one-at-a-time path.
  async #flush(): Promise<void> {
    const batch = this.#pending
    this.#pending = []
    if (batch.length === 0) return
    let ids: Set<string>
    try {
      ids = await this.#repo.createConversations(batch.map((item) => item.c))
    } catch (error) {
      if (isDatabaseUnavailable(error)) throw error
      // One source the database refuses must not sink the others: go one by one.
      for (const { source, c } of batch) {
        await this.#one(source, c)
        this.#options.onSettled?.()
      }
      return
    }
    for (const { source, c } of batch) {
      if (ids.has(c.id)) this.#created(c, c.messages.length)
      else await this.#updateExisting(c).catch((error: unknown) => this.fail(source, error))
      this.#options.onSettled?.()
    }
  }
}
