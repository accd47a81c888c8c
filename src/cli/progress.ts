import cliProgress from 'cli-progress'
import type { ImportProgress } from './import/importer.ts'

export interface ProgressReporter {
  update(progress: ImportProgress): void
  stop(): void
}

const PLAIN_INTERVAL_MS = 2000

function rateAndEta(progress: ImportProgress, startedAt: number) {
  const seconds = Math.max((Date.now() - startedAt) / 1000, 0.001)
  const rate = progress.filesDone / seconds
  const eta = rate > 0 ? Math.ceil((progress.filesTotal - progress.filesDone) / rate) : 0
  return { rate: Math.round(rate), eta }
}

/** A bar on a terminal; otherwise a plain line every two seconds and one at the end. */
export function progressReporter(unit = 'files', stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  const startedAt = Date.now()
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: `import {bar} {value}/{total} ${unit} | {conversations} conversations | {messages} messages | {rate} ${unit}/s | ETA {eta_formatted}`,
        hideCursor: true,
        etaBuffer: 200
      },
      cliProgress.Presets.shades_classic
    )
    let started = false
    return {
      update(progress) {
        if (!started) {
          bar.start(progress.filesTotal, 0, { conversations: 0, messages: 0, rate: 0 })
          started = true
        }
        const { rate } = rateAndEta(progress, startedAt)
        bar.update(progress.filesDone, { conversations: progress.conversations, messages: progress.messages, rate })
      },
      stop: () => bar.stop()
    }
  }
  let lastLine = 0
  let last: ImportProgress | null = null
  const line = (progress: ImportProgress) => {
    const { rate, eta } = rateAndEta(progress, startedAt)
    stream.write(
      `progress: ${progress.filesDone}/${progress.filesTotal} ${unit}, ${progress.conversations} conversations, ` +
        `${progress.messages} messages, ${rate} ${unit}/s, ETA ${eta}s\n`
    )
    lastLine = Date.now()
  }
  return {
    update(progress) {
      last = progress
      if (Date.now() - lastLine >= PLAIN_INTERVAL_MS) line(progress)
    },
    stop() {
      if (last) line(last)
    }
  }
}
