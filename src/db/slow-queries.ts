import { performance } from 'node:perf_hooks'

export interface SlowQuery {
  /** The repository call (`conversations.get`); never its arguments, which hold users' text. */
  operation: string
  durationMs: number
}

/**
 * Times the repositories' database calls and reports those slower than `thresholdMs`. Drizzle's logger
 * sees a statement before it runs but never how long it took (drizzle-orm#2605), so each repository
 * call is timed where it is made.
 */
export class QueryTimer {
  reporter: ((query: SlowQuery) => void) | null = null
  thresholdMs = Number.POSITIVE_INFINITY

  /** `query` (a drizzle query, which runs when awaited), timed until it settles. */
  async time<T>(operation: string, query: PromiseLike<T>): Promise<T> {
    const started = performance.now()
    try {
      return await query
    } finally {
      const durationMs = performance.now() - started
      if (this.reporter && durationMs >= this.thresholdMs) this.reporter({ operation, durationMs: Math.round(durationMs * 10) / 10 })
    }
  }
}

/** For repositories built without one (inside a transaction, in tools): times nothing. */
export const UNTIMED = new QueryTimer()
