import type { FastifyBaseLogger } from 'fastify'
import type { SearchRepo } from '../repos/search.ts'

/**
 * After SEARCH_LANGUAGE changes, rows written under the old one are indexed again in the background,
 * a batch at a time, so startup does not wait on it; search finds them under the new language as they go.
 */
export class SearchReindexer {
  #search: SearchRepo
  #log: FastifyBaseLogger
  #stopped = false
  #done: Promise<void> = Promise.resolve()

  constructor(search: SearchRepo, log: FastifyBaseLogger) {
    this.#search = search
    this.#log = log
  }

  start(): void {
    this.#done = this.#run().catch((error) => this.#log.error({ err: error }, 'search: re-indexing stopped; it goes on at the next start'))
  }

  async #run(): Promise<void> {
    let total = 0
    for (;;) {
      if (this.#stopped) return
      const changed = await this.#search.reindexBatch()
      if (changed === 0) break
      total += changed
      this.#log.info(`search: re-indexed ${total} rows under the new SEARCH_LANGUAGE`)
    }
    if (total > 0) this.#log.info(`search: re-indexing done (${total} rows)`)
  }

  async stop(): Promise<void> {
    this.#stopped = true
    await this.#done
  }
}
