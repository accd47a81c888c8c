import { setFlagsFromString } from 'node:v8'

/** The old generation may grow to (1 + this / 100) × what survived the last full collection. */
export const HEAP_GROWING_PERCENT = 300

/**
 * Lets V8 grow the old generation by a fixed factor of 4 between full collections, unless the operator
 * chose a factor (`--heap-growing-percent` in NODE_OPTIONS or on node's command line).
 *
 * V8 picks the factor from how fast the program fills the old generation against how fast it can mark
 * it. A server that promotes little gets a factor near 1.1, which leaves less headroom than the young
 * generation could promote; V8 then starts marking again as soon as a full collection ends. Under load
 * this server did one Mark-Compact every ~1,000 requests, each ~70 ms of marking on the other core,
 * which on a small machine is the core PostgreSQL needs. With a fixed factor the old generation no
 * longer sets their pace under that load: they start when the external memory that promoted objects
 * hold (the driver's read buffers) has grown by V8's fixed 64 MB, every ~6,000 list requests, with the
 * old generation at about a third of its limit.
 */
export function tuneHeapGrowth(options: { execArgv?: string[]; nodeOptions?: string; setFlags?: (flags: string) => void } = {}): void {
  const { execArgv = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? '', setFlags = setFlagsFromString } = options
  const chosen = [...execArgv, ...nodeOptions.split(/\s+/)].some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg))
  if (!chosen) setFlags(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
}
