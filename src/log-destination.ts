import { writeSync } from 'node:fs'
import type { DestinationStream } from 'pino'

export interface TurnBatchedDestination extends DestinationStream {
  /** Writes what is pending now; the process's exit does it too. */
  flush(): void
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)

/**
 * Log lines to a file descriptor (stdout), in one synchronous write per turn of the event loop: the
 * lines logged during a turn go out together when it ends. A busy server writes once a turn, not once a
 * line; a quiet one has each line out at once; and no line goes through libuv's thread pool, whose
 * hand-off and wake-up for every line of an asynchronous destination cost more than writing it.
 * If the reader of the descriptor goes away, logging stops and the server carries on.
 */
export function turnBatchedDestination(fd: number): TurnBatchedDestination {
  let pending = ''
  let scheduled = false
  let broken = false

  /** Whether to try the write again: after a wait when the reader is behind; never once it is gone. */
  const retry = (error: unknown): boolean => {
    const code = (error as NodeJS.ErrnoException).code
    // A non-blocking descriptor whose reader is behind: wait for it, as a blocking one would.
    if (code === 'EAGAIN') {
      sleep(10)
      return true
    }
    broken = true
    if (code !== 'EPIPE') process.stderr.write(`llm-council-server: log lines can no longer be written: ${String(error)}\n`)
    return false
  }

  const flush = () => {
    scheduled = false
    if (pending === '' || broken) return
    const text = pending
    pending = ''
    // The string is written as it is: a Buffer made for it each turn would count toward the next full
    // garbage collection. Only what a partial write leaves is copied into one.
    let rest: Buffer
    try {
      const written = writeSync(fd, text)
      if (written === Buffer.byteLength(text)) return
      rest = Buffer.from(text).subarray(written)
    } catch (error) {
      if (!retry(error)) return
      rest = Buffer.from(text)
    }
    while (rest.length > 0) {
      try {
        rest = rest.subarray(writeSync(fd, rest))
      } catch (error) {
        if (!retry(error)) return
      }
    }
  }
  process.on('exit', flush)

  return {
    write(line: string) {
      // Once writing has failed, lines are dropped, not kept in memory for a reader that is gone.
      if (broken) return
      pending += line
      if (!scheduled) {
        scheduled = true
        setImmediate(flush)
      }
    },
    flush
  }
}
