import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify'
import type { Bindings, ChildLoggerOptions } from 'pino'

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const
type Level = (typeof LEVELS)[number]
type Log = (...args: unknown[]) => void

/** Its six level methods, which the class's static block defines. */
export interface RequestLogger extends Record<Level, Log> {}

/**
 * A request's logger, whose pino child (with the request id bound) is made the first time it is used.
 * Most requests log nothing but the line Fastify writes when they complete, which `completed` writes
 * through the server's logger instead; making a child for every request was ~5% of the work of
 * listing conversations (pino copies its formatters and bindings into a new object each time).
 */
export class RequestLogger {
  #child: FastifyBaseLogger | undefined
  readonly #parent: FastifyBaseLogger
  readonly #bindings: Bindings

  static {
    for (const level of LEVELS) {
      RequestLogger.prototype[level] = function (this: RequestLogger, ...args: unknown[]) {
        this.#write(level, args)
      }
    }
  }

  constructor(parent: FastifyBaseLogger, bindings: Bindings) {
    this.#parent = parent
    this.#bindings = bindings
  }

  get #logger(): FastifyBaseLogger {
    return (this.#child ??= this.#parent.child(this.#bindings))
  }

  get level(): string {
    return this.#child?.level ?? this.#parent.level
  }

  set level(level: string) {
    this.#logger.level = level
  }

  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#logger.child(bindings, options)
  }

  /** Fastify's line for a finished request, as the child would write it, without making one for it. */
  completed(res: unknown, responseTime: number, error: Error | null | undefined): void {
    const fields = error ? { res, err: error, responseTime } : { res, responseTime }
    const [level, message] = error ? (['error', 'request errored'] as const) : (['info', 'request completed'] as const)
    if (this.#child) this.#child[level](fields, message)
    // Not `{ ...bindings, ...fields }`: V8 (Node 20) gives an object spread from these bindings a map
    // outside the transition tree, so every line made two new maps (garbage in old space, which only
    // a full collection frees). Object.assign reuses the cached transitions.
    else this.#parent[level](Object.assign({}, this.#bindings, fields), message)
  }

  #write(level: Level, args: unknown[]): void {
    // Below the level, no child is made for a line that would not be written.
    const log = this.#child ?? (this.#isEnabled(level) ? this.#logger : undefined)
    if (log) (log[level] as Log)(...args)
  }

  #isEnabled(level: Level): boolean {
    return (this.#parent as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled?.(level) ?? true
  }
}

/**
 * Fastify's child logger factory: a RequestLogger, unless the route sets its own level or serializers
 * (then pino's child at once, as Fastify would make it).
 */
export const requestLoggerFactory: NonNullable<FastifyServerOptions['childLoggerFactory']> = function (logger, bindings, options) {
  if (options.level !== undefined || options.serializers !== undefined) return logger.child(bindings, options)
  return new RequestLogger(logger, bindings) as unknown as FastifyBaseLogger
}
