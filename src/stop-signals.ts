/** Copies of one signal that arrive within this long of the first are the same request to stop. */
export const SAME_SIGNAL_MS = 1000

export interface StopSignalHandlers {
  /** The first SIGTERM or SIGINT: stop gracefully. */
  stop(signal: NodeJS.Signals): void
  /** A SIGTERM later on, or a copy of the first signal: nothing more to do. */
  repeated(signal: NodeJS.Signals): void
  /** A SIGINT a moment after the first signal (a second Ctrl-C): exit now. */
  force(signal: NodeJS.Signals): void
}

/**
 * SIGTERM and SIGINT, with copies counted once. A signal sent to a process group (systemd's default, a
 * terminal's Ctrl-C) reaches npm and node at once, and npm forwards its copy: the server sees the same
 * request twice within milliseconds. A repeated SIGTERM never cuts the grace period short (process
 * managers escalate to SIGKILL themselves); a second Ctrl-C a moment later does.
 */
export function onStopSignals(handlers: StopSignalHandlers, target: Pick<NodeJS.Process, 'on'> = process, now = Date.now): void {
  let firstAt: number | undefined
  const onSignal = (signal: NodeJS.Signals) => {
    if (firstAt === undefined) {
      firstAt = now()
      handlers.stop(signal)
    } else if (signal === 'SIGINT' && now() - firstAt >= SAME_SIGNAL_MS) {
      handlers.force(signal)
    } else {
      handlers.repeated(signal)
    }
  }
  target.on('SIGTERM', onSignal)
  target.on('SIGINT', onSignal)
}
