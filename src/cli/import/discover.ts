import { type Dirent, type Stats, promises as fs } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { folderUser } from '../folder-names.ts'

export interface SourceFile {
  /** Where it is read from (absolute). */
  path: string
  /** The path as the user wrote it, for messages: their argument, joined with what was found under it. */
  shown: string
  /** The user a per-user layout names for this file (folder or usage file name), if any. */
  owner: string | null
}

/** A path that was named or found but is not read, and why. */
export interface Skipped {
  path: string
  reason: string
}

/**
 * Whose a file is, by llm-council's layouts: `conversations/<user>/<id>.json`,
 * `usage/<user>.json` and `usage/<user>/usage.json`. Flat conversation files name nobody. Folder
 * names that `export-json` percent-encoded are decoded back to the user id.
 */
export function ownerFromPath(path: string): string | null {
  const parent = basename(dirname(path))
  const grandparent = basename(dirname(dirname(path)))
  if (parent === 'usage') return folderUser(basename(path, '.json'))
  if (grandparent === 'usage' || grandparent === 'conversations') return folderUser(parent)
  return null
}

function kind(stat: Stats | Dirent): string {
  if (stat.isSymbolicLink()) return 'a symbolic link (not followed inside a directory)'
  if (stat.isFIFO()) return 'a FIFO'
  if (stat.isSocket()) return 'a socket'
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device'
  return 'not a regular file'
}

/**
 * Every regular `.json` file under the given files and directories, sorted, without reading any of
 * them. Only regular files are read: a FIFO would block, a link could loop or lead out of the data;
 * each such path is reported as skipped. A symbolic link given as an argument is followed (the user
 * named it), once. Relative paths are from `baseDir`: where the user ran the command, which `npm run`
 * does not keep as the working directory.
 */
export async function discover(paths: string[], baseDir = process.cwd()): Promise<{ files: SourceFile[]; skipped: Skipped[] }> {
  const files = new Map<string, SourceFile>()
  const skipped: Skipped[] = []
  const add = (path: string, shown: string) => files.set(path, { path, shown, owner: ownerFromPath(path) })
  const walk = async (dir: string, shownDir: string): Promise<void> => {
    let entries: Dirent[]
    try {
      entries = (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))
    } catch (error) {
      skipped.push({ path: shownDir, reason: `cannot be listed (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` })
      return
    }
    // The entries' types come with the listing (no stat per file); a link is its own type, not followed.
    for (const entry of entries) {
      const full = join(dir, entry.name)
      const shown = join(shownDir, entry.name)
      if (entry.isDirectory()) await walk(full, shown)
      else if (!entry.name.endsWith('.json')) continue
      else if (entry.isFile()) add(full, shown)
      else skipped.push({ path: shown, reason: kind(entry) })
    }
  }
  for (const written of paths) {
    const path = resolve(baseDir, written)
    let stat: Stats
    try {
      stat = await fs.stat(path)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT') throw Object.assign(error as Error, { path: written })
      skipped.push({ path: written, reason: code === 'ELOOP' ? 'a symbolic link that loops' : `cannot be read (${code ?? (error as Error).message})` })
      continue
    }
    if (stat.isDirectory()) await walk(path, written)
    else if (stat.isFile()) add(path, written)
    else skipped.push({ path: written, reason: kind(stat) })
  }
  return { files: [...files.values()], skipped }
}
