import type { FastifyBaseLogger } from 'fastify'
import { errorCode, safeError } from '../db/errors.ts'
import { CANCEL_CHANNEL, EVENTS_CHANNEL, type EventBatch, type RunsRepo, type StaleRun, type StoredEvent } from '../repos/runs.ts'

/** Listens on a PostgreSQL channel; resolves to a function that stops listening. Absent on PGlite (one process). */
export type Listen = (channel: string, onNotify: (payload: string) => void) => Promise<() => Promise<void>>

export interface RunHubOptions {
  runs: RunsRepo
  listen?: Listen
  log: FastifyBaseLogger
  /** How often this instance stores its runs' events (and tells the others). */
  flushMs?: number
  /** How often it keeps its runs alive and looks for runs whose instance died (stale after three beats). */
  heartbeatMs: number
  /** How long a following client on another instance waits for a notification before reading the store anyway. */
  pollMs?: number
  /** Called with each run whose instance died, taken by this one to store what it had. */
  onStale: (run: StaleRun) => Promise<void>
}

export type RunEvent = StoredEvent['event']
type Subscriber = (stored: StoredEvent) => void

const FLUSH_MS = 250
const POLL_MS = 1000
const EVENTS_KEEP_MS = 60 * 60 * 1000
const FOREIGN_KEY_VIOLATION = '23503'
// A batch the database keeps refusing is given up after this many flushes (five seconds).
const STORE_TRIES = 20

/** A run this instance is running: its events in memory, numbered from 1, for the clients following it here. */
export class LiveRun {
  readonly id: string
  readonly controller = new AbortController()
  /** Why the run was stopped early, if it was. */
  stopReason: 'cancelled' | 'interrupted' | null = null
  /** The answer it stored, for a client waiting here (one elsewhere reads it from the conversation). */
  answer: unknown = null
  readonly events: StoredEvent[] = []
  readonly #subscribers = new Set<Subscriber>()
  readonly #queue: (id: string, stored: StoredEvent) => void

  constructor(id: string, queue: (id: string, stored: StoredEvent) => void) {
    this.id = id
    this.#queue = queue
  }

  get ended(): boolean {
    return this.events.at(-1)?.event.type === 'run_end'
  }

  emit(event: RunEvent): void {
    if (this.ended) return
    const stored = { id: this.events.length + 1, event }
    this.events.push(stored)
    this.#queue(this.id, stored)
    for (const subscriber of this.#subscribers) subscriber(stored)
  }

  stop(reason: 'cancelled' | 'interrupted'): void {
    this.stopReason ??= reason
    this.controller.abort()
  }

  subscribe(after: number, subscriber: Subscriber): () => void {
    for (const stored of this.events) if (stored.id > after) subscriber(stored)
    this.#subscribers.add(subscriber)
    return () => this.#subscribers.delete(subscriber)
  }
}

/**
 * Live runs across instances. The instance running a run numbers its events and hands them at once to
 * the clients following it there; every FLUSH_MS it stores them in a batch and NOTIFYs the others,
 * whose followers read the new ones from the store. The store is the source of truth: a follower that
 * misses a notification reads it within POLL_MS anyway. Heartbeats mark this instance's runs alive;
 * a run whose heartbeat stops is taken by whichever instance notices and stored as interrupted.
 */
export class RunHub {
  #options: RunHubOptions
  #live = new Map<string, LiveRun>()
  #pending: EventBatch[] = []
  /** How often each batch failed to be stored. */
  #tries = new WeakMap<EventBatch, number>()
  /** Each run's batch in `#pending`, which its next events join. */
  #open = new Map<string, EventBatch>()
  #flushing: Promise<void> = Promise.resolve()
  #waiters = new Map<string, Set<() => void>>()
  #timers: NodeJS.Timeout[] = []
  #unlisten: (() => Promise<void>)[] = []
  #closed = false

  constructor(options: RunHubOptions) {
    this.#options = options
  }

  /** Starts the timers, and LISTEN in the background: startup never waits on it (followers poll meanwhile). */
  start(): void {
    const { listen, heartbeatMs, log } = this.#options
    if (listen) {
      const listening = Promise.all([
        listen(EVENTS_CHANNEL, (payload) => payload.split(',').forEach((id) => this.#wake(id))),
        listen(CANCEL_CHANNEL, (id) => this.#live.get(id)?.stop('cancelled'))
      ])
      listening.then(
        (stops) => (this.#closed ? stops.forEach((stop) => void stop().catch(() => {})) : this.#unlisten.push(...stops)),
        // Followers still read the store every POLL_MS, and cancels arrive with the heartbeat.
        (error: unknown) => log.warn({ err: safeError(error) }, `cannot LISTEN for live runs (${safeError(error).message}); other instances' runs are followed by polling`)
      )
    }
    this.#timers.push(setInterval(() => void this.flush(), this.#options.flushMs ?? FLUSH_MS).unref())
    this.#timers.push(setInterval(() => void this.#beat(), heartbeatMs).unref())
  }

  /** Registers a run this instance is about to run. */
  open(id: string): LiveRun {
    const run = new LiveRun(id, (runId, stored) => this.#queue(runId, stored))
    this.#live.set(id, run)
    return run
  }

  /** Forgets a run that has ended here, once its last events are stored. */
  async close(run: LiveRun): Promise<void> {
    await this.flush()
    this.#live.delete(run.id)
  }

  local(id: string): LiveRun | undefined {
    return this.#live.get(id)
  }

  /** Stops a run of this instance at once; one elsewhere stops when its instance hears of the request (the caller stored it). */
  cancel(id: string): void {
    this.#live.get(id)?.stop('cancelled')
  }

  /** Stops every run here (shutdown past its grace period): they end interrupted, with what they had. */
  interruptAll(): void {
    for (const run of this.#live.values()) run.stop('interrupted')
  }

  /**
   * Hands `onEvent` every event of the run after `after`, in order and once each, live as they come,
   * until its `run_end` (or until `signal` aborts). Runs here are followed from memory, others from the
   * store. `ended` says what to send when the store has no `run_end` (events purged, or never stored).
   */
  async follow(id: string, after: number, onEvent: Subscriber, signal: AbortSignal, ended: () => Promise<RunEvent | null>): Promise<void> {
    let last = after
    const deliver = (stored: StoredEvent) => {
      if (stored.id <= last) return
      last = stored.id
      onEvent(stored)
    }
    const live = this.#live.get(id)
    if (live) {
      await new Promise<void>((resolve) => {
        let unsubscribe = () => {}
        let finished = false
        const done = () => {
          finished = true
          unsubscribe()
          signal.removeEventListener('abort', done)
          resolve()
        }
        // Replays what it has first (maybe the run_end itself), then hands on each new event.
        unsubscribe = live.subscribe(after, (stored) => {
          deliver(stored)
          if (stored.event.type === 'run_end') done()
        })
        if (finished) unsubscribe()
        else if (signal.aborted) done()
        else signal.addEventListener('abort', done)
      })
      return
    }
    while (!signal.aborted && !this.#closed) {
      const woken = this.#nextWake(id, signal)
      const { events, more } = await this.#options.runs.eventsAfter(id, last)
      for (const stored of events) {
        deliver(stored)
        if (stored.event.type === 'run_end') return
      }
      if (more) continue
      // Started here after the first look, or ended without a stored run_end.
      if (this.#live.has(id)) return this.follow(id, last, onEvent, signal, ended)
      const end = await ended()
      if (end) {
        const rest = await this.#options.runs.eventsAfter(id, last)
        rest.events.forEach(deliver)
        if (rest.events.some((stored) => stored.event.type === 'run_end')) return
        if (rest.more) continue
        return deliver({ id: last + 1, event: end })
      }
      await woken
    }
  }

  /** Stores what is queued. Batches go one at a time, so a run's events are stored in order. */
  flush(): Promise<void> {
    const batches = this.#pending
    if (batches.length === 0) return this.#flushing
    this.#pending = []
    this.#open.clear()
    this.#flushing = this.#flushing.then(() => this.#store(batches))
    return this.#flushing
  }

  async #store(batches: EventBatch[]): Promise<void> {
    const { runs, log } = this.#options
    try {
      await runs.appendEvents(batches)
    } catch (error) {
      if (batches.length > 1 && errorCode(error) === FOREIGN_KEY_VIOLATION) {
        // A run whose conversation was deleted meanwhile has no row to hang its events on (and needs
        // none): the others are stored one by one, so one deletion costs no one else their events.
        for (const batch of batches) await this.#store([batch])
        return
      }
      if (errorCode(error) === FOREIGN_KEY_VIOLATION) return
      // The database is busy or away: the batches go back to the front of the queue for the next flush,
      // so followers elsewhere get every event, late rather than never.
      const kept = batches.filter((batch) => (this.#tries.set(batch, (this.#tries.get(batch) ?? 0) + 1).get(batch) ?? 0) < STORE_TRIES)
      log.warn({ err: safeError(error) }, `could not store ${batches.length} batch(es) of run events; ${kept.length < batches.length ? `gave up on ${batches.length - kept.length} after ${STORE_TRIES} tries, ` : ''}trying again`)
      this.#pending.unshift(...kept)
    }
  }

  async stop(): Promise<void> {
    this.#closed = true
    for (const timer of this.#timers) clearInterval(timer)
    await this.flush()
    for (const waiters of this.#waiters.values()) for (const wake of waiters) wake()
    // Not waited for: the database's close ends the listening connection anyway, and a lost one would hang.
    for (const unlisten of this.#unlisten) void unlisten().catch(() => {})
  }

  #queue(runId: string, stored: StoredEvent): void {
    const open = this.#open.get(runId)
    if (open && open.firstId + open.events.length === stored.id) return void open.events.push(stored.event)
    const batch = { runId, firstId: stored.id, events: [stored.event] }
    this.#pending.push(batch)
    this.#open.set(runId, batch)
  }

  #wake(id: string): void {
    for (const wake of this.#waiters.get(id) ?? []) wake()
  }

  /** Resolves at the run's next notification, or after POLL_MS, or when `signal` aborts. */
  #nextWake(id: string, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const waiters = this.#waiters.get(id) ?? new Set()
      this.#waiters.set(id, waiters)
      const timer = setTimeout(() => wake(), this.#options.pollMs ?? POLL_MS)
      const wake = () => {
        clearTimeout(timer)
        waiters.delete(wake)
        if (waiters.size === 0) this.#waiters.delete(id)
        signal.removeEventListener('abort', wake)
        resolve()
      }
      waiters.add(wake)
      signal.addEventListener('abort', wake)
    })
  }

  async #beat(): Promise<void> {
    const { runs, log, heartbeatMs, onStale } = this.#options
    try {
      for (const id of await runs.heartbeat([...this.#live.keys()])) this.#live.get(id)?.stop('cancelled')
      for (const run of await runs.claimStale(heartbeatMs * 3)) {
        await onStale(run).catch((error: unknown) => log.error({ err: error, runId: run.id }, 'could not store an interrupted run'))
      }
      await runs.purgeEvents(EVENTS_KEEP_MS)
    } catch (error) {
      log.error({ err: error }, 'run heartbeat failed')
    }
  }
}
