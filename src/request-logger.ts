import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify'
import type { Bindings, ChildLoggerOptions } from 'pino'

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'
type Log = (...args: unknown[]) => void

/**
 * A request's logger, whose pino child (with the request id bound) is made the first time it is used.
 * Most requests log nothing but the line Fastify writes when they complete, which `logCompleted`
 * writes through the server's logger instead; making a child for every request was ~5% of the work
 * of listing conversations (pino copies its formatters and bindings into a new object each time).
 */
export class RequestLogger {
  #child: FastifyBaseLogger | undefined
  readonly #parent: FastifyBaseLogger
  readonly #bindings: Bindings

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

  fatal(...args: unknown[]): void {
    this.#write('fatal', args)
  }

  error(...args: unknown[]): void {
    this.#write('error', args)
  }

  warn(...args: unknown[]): void {
    this.#write('warn', args)
  }

  info(...args: unknown[]): void {
    this.#write('info', args)
  }

  debug(...args: unknown[]): void {
    this.#write('debug', args)
  }

  trace(...args: unknown[]): void {
    this.#write('trace', args)
  }

  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#logger.child(bindings, options)
  }

  /**
   * Fastify's line for a finished request, the same as its child would write (`reqId`, the label
   * Fastify binds by default), through the server's logger when the request made no child.
   */
  completed(requestId: string, res: unknown, responseTime: number, error: Error | null | undefined): void {
    if (error) {
      if (this.#child) this.#child.error({ res, err: error, responseTime }, 'request errored')
      else this.#parent.error({ reqId: requestId, res, err: error, responseTime }, 'request errored')
    } else if (this.#child) this.#child.info({ res, responseTime }, 'request completed')
    else this.#parent.info({ reqId: requestId, res, responseTime }, 'request completed')
  }

  #write(level: Level, args: unknown[]): void {
    // Below the level, no child is made for a line that would not be written.
    const enabled = (this.#parent as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled?.(level) ?? true
    if (this.#child || enabled) (this.#logger[level] as Log)(...args)
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
