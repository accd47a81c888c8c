import { existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

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
 * The directory as the file system knows it: a symlink (or a symlinked parent) resolved, so that two
 * spellings of one directory take one lock. The parent is created if missing.
 */
function resolveDirectory(dir: string): string {
  mkdirSync(dirname(dir), { recursive: true })
  return existsSync(dir) ? realpathSync(dir) : join(realpathSync(dirname(dir)), basename(dir))
}

/**
 * Takes the embedded database directory for this process: a lock file `<dir>.lock` beside it (PGlite
 * wants the directory itself to itself) holding our pid, created exclusively, on the directory's real
 * path. A lock whose pid is gone is stale and taken over. Returns the release function. Every way
 * this can fail is a DirectoryInUseError with a one-line message.
 */
export function lockDirectory(dir: string): () => void {
  let path: string
  try {
    path = `${resolveDirectory(dir)}.lock`
  } catch (error) {
    throw new DirectoryInUseError(`PGLITE_DIR ${dir} cannot be used: ${(error as Error).message}`)
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' })
      held.add(path)
      return () => {
        held.delete(path)
        rmSync(path, { force: true })
      }
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'EEXIST') throw new DirectoryInUseError(`PGLITE_DIR ${dir}: cannot create its lock file ${path} (${code ?? (error as Error).message})`)
    }
    if (!lstatSync(path).isFile()) {
      throw new DirectoryInUseError(`PGLITE_DIR ${dir}: its lock file ${path} is not a file: remove it or set another PGLITE_DIR`)
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
