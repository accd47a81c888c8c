import { performance } from 'node:perf_hooks'
import type { PGlite } from '@electric-sql/pglite'
import type { Sql } from 'postgres'

export interface SlowQuery {
  /** The SQL text with its $n placeholders; never the parameter values, which hold users' text. */
  statement: string
  durationMs: number
}

export type SlowQueryReporter = (query: SlowQuery) => void

const MAX_STATEMENT = 2000

/** Times every statement a client runs and reports those slower than `thresholdMs`. */
export class SlowQueryWatch {
  reporter: SlowQueryReporter | null = null
  thresholdMs = Number.POSITIVE_INFINITY

  observe(statement: string): () => void {
    const started = performance.now()
    return () => {
      const durationMs = performance.now() - started
      if (this.reporter && durationMs >= this.thresholdMs) {
        this.reporter({ statement: statement.slice(0, MAX_STATEMENT), durationMs: Math.round(durationMs * 10) / 10 })
      }
    }
  }

  /** postgres.js: drizzle runs everything through `unsafe`; its pending query is a lazy Promise. */
  instrumentPostgres(client: Sql): void {
    const unsafe = client.unsafe.bind(client)
    client.unsafe = ((query: string, ...rest: unknown[]) => {
      const pending = (unsafe as (...args: unknown[]) => Promise<unknown>)(query, ...rest)
      const done = this.observe(query)
      // Promise.prototype.then watches for the end without starting the query (its own then would).
      Promise.prototype.then.call(pending, done, done)
      return pending
    }) as typeof client.unsafe
  }

  instrumentPglite(client: PGlite): void {
    const query = client.query.bind(client)
    client.query = (async (statement: string, ...rest: unknown[]) => {
      const done = this.observe(statement)
      try {
        return await (query as (...args: unknown[]) => Promise<unknown>)(statement, ...rest)
      } finally {
        done()
      }
    }) as typeof client.query
  }
}
