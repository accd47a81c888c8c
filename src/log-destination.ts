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

  const flush = () => {
    scheduled = false
    if (pending === '' || broken) return
    let out = Buffer.from(pending)
    pending = ''
    while (out.length > 0) {
      try {
        out = out.subarray(writeSync(fd, out))
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code
        // A non-blocking descriptor whose reader is behind: wait for it, as a blocking one would.
        if (code === 'EAGAIN') sleep(10)
        else {
          broken = true
          if (code !== 'EPIPE') process.stderr.write(`llm-council-server: log lines can no longer be written: ${String(error)}\n`)
          return
        }
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
