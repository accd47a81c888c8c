import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'

export const ROOT = join(import.meta.dirname, '../..')

export interface Finished {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/**
 * Runs an entry point of the project, TypeScript through tsx (as `npm run dev` does) or compiled JavaScript
 * from dist/ (as `npm start` does), with exactly `env` on top of PATH.
 * `stdout`: a file descriptor to write its output to instead of a pipe to this process (`stdout` of the
 * result is then empty).
 */
export function runScript(
  script: string,
  env: Record<string, string>,
  args: string[] = [],
  options: { untracked?: boolean; stdout?: number } = {}
): ChildProcess & { done: Promise<Finished> } {
  // node itself (not the tsx wrapper) so that the child's pid is the server's and signals reach it directly.
  const command = [process.execPath, ...(script.endsWith('.ts') ? ['--import', 'tsx'] : []), join(ROOT, script), ...args]
  // `untracked`: through env(1), which drops the NODE_OPTIONS tap adds to every child it spawns.
  const [file, ...rest] = options.untracked ? ['env', '-u', 'NODE_OPTIONS', ...command] : command
  const child = spawn(file!, rest, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', options.stdout ?? 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk) => (stdout += chunk))
  child.stderr!.on('data', (chunk) => (stderr += chunk))
  const done = new Promise<Finished>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  )
  return Object.assign(child, { done })
}

/** Resolves once the child's stdout has printed a line matching `pattern` (the server's log, say). */
export function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = ''
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; saw:\n${seen}`)), timeoutMs)
    const onData = (chunk: Buffer) => {
      seen += chunk
      const match = pattern.exec(seen)
      if (match) {
        clearTimeout(timer)
        child.stdout!.off('data', onData)
        resolve(match[0])
      }
    }
    child.stdout!.on('data', onData)
    child.on('close', () => {
      clearTimeout(timer)
      reject(new Error(`exited before ${pattern}; saw:\n${seen}`))
    })
  })
}
