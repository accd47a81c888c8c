import { Socket, connect } from 'node:net'

/** What postgres.js passes its `socket` option: the parsed connection options. */
interface SocketOptions {
  host: string[]
  port: number[]
  path?: string | false
}

/**
 * postgres.js's `socket` option (its documented hook for a custom connection): a TCP connection that
 * is destroyed when it has sent the database something and nothing has come back for `deadlineMs`.
 * That is a network partition (the connection open, nothing answering), which TCP itself reports only
 * after many minutes; until then every query on the connection, and every request behind them, would
 * hang. Destroyed, the connection fails its queries with CONNECTION_CLOSED (a 503), and the pool opens
 * a new one for the next query. Hosts are taken in turn, as postgres.js does with a multi-host URL.
 */
export function deadlineSocket(deadlineMs: number): (options: SocketOptions) => Socket {
  let next = 0
  return (options) => {
    const index = next++ % options.host.length
    const host = options.host[index]!
    const socket = options.path ? connect(options.path) : connect(options.port[index] ?? 5432, host)
    // postgres.js reads the host for TLS's server name.
    Object.assign(socket, { host })
    watchReplies(socket, deadlineMs)
    return socket
  }
}

/**
 * Watches the socket's byte counters, which count under TLS too (postgres.js writes to a TLS socket
 * layered on this one, past its write method). Each tick: bytes written and none read start the
 * clock; bytes read and none written stop it.
 */
function watchReplies(socket: Socket, deadlineMs: number): void {
  let read = 0
  let written = 0
  let waitingSince: number | null = null
  const tick = setInterval(
    () => {
      const now = performance.now()
      const answered = socket.bytesRead > read
      const asked = socket.bytesWritten > written
      read = socket.bytesRead
      written = socket.bytesWritten
      // Both within one tick: which came last is unknown, so the clock starts again (an idle
      // connection is then closed after the deadline, as idle_timeout would close it later).
      if (answered) waitingSince = asked ? now : null
      else if (asked) waitingSince ??= now
      if (waitingSince !== null && now - waitingSince >= deadlineMs) {
        clearInterval(tick)
        socket.destroy()
      }
    },
    Math.min(1000, Math.max(50, Math.floor(deadlineMs / 10)))
  ).unref()
  socket.once('close', () => clearInterval(tick))
}
