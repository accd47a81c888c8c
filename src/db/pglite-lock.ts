import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

export class DirectoryInUseError extends Error {
  override name = 'DirectoryInUseError'
}

// Directories this process holds: a lock naming our own pid is ours only if it is listed here
// (in a container every run is pid 1, so a leftover lock with our pid is stale).
const held = new Set<string>()

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Takes the embedded database directory for this process: a lock file `<dir>.lock` beside it (PGlite
 * wants the directory itself to itself) holding our pid, created exclusively. A lock whose pid is
 * gone is stale and taken over. Returns the release function.
 */
export function lockDirectory(dir: string): () => void {
  mkdirSync(dirname(dir), { recursive: true })
  const path = `${dir}.lock`
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' })
      held.add(path)
      return () => {
        held.delete(path)
        rmSync(path, { force: true })
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const holder = Number.parseInt(readFileSafe(path), 10)
    const ours = holder === process.pid
    if ((ours && held.has(path)) || (!ours && Number.isInteger(holder) && isAlive(holder))) {
      throw new DirectoryInUseError(
        `PGLITE_DIR ${dir} is in use by pid ${holder}: stop that process or set another PGLITE_DIR`
      )
    }
    rmSync(path, { force: true })
  }
  throw new DirectoryInUseError(`PGLITE_DIR ${dir} is in use: could not take its lock file ${path}`)
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return ''
  }
}
