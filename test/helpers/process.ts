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
  options: RunOptions = {}
): ChildProcess & { done: Promise<Finished> } {
  // node itself (not the tsx wrapper) so that the child's pid is the server's and signals reach it directly.
  return runCommand([process.execPath, ...(script.endsWith('.ts') ? ['--import', 'tsx'] : []), join(ROOT, script), ...args], env, options)
}

export interface RunOptions {
  /** Through env(1), which drops the NODE_OPTIONS tap adds to every child it spawns (its coverage, its loaders). */
  untracked?: boolean
  /** A file descriptor for the child's stdout instead of a pipe to this process. */
  stdout?: number
  /** The leader of a process group of its own, as a service or a terminal's foreground job is. */
  detached?: boolean
}

/** Runs `command` in the project's folder with exactly `env` on top of PATH, collecting its output. */
export function runCommand(command: string[], env: Record<string, string>, options: RunOptions = {}): ChildProcess & { done: Promise<Finished> } {
  const [file, ...rest] = options.untracked ? ['env', '-u', 'NODE_OPTIONS', ...command] : command
  const child = spawn(file!, rest, {
    cwd: ROOT,
    detached: options.detached,
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
