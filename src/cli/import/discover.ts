import { type Dirent, promises as fs } from 'node:fs'
import { basename, dirname, join } from 'node:path'

export interface SourceFile {
  path: string
  /** The user a per-user layout names for this file (folder or usage file name), if any. */
  owner: string | null
}

/**
 * Whose a file is, by llm-council's layouts: `conversations/<user>/<id>.json`,
 * `usage/<user>.json` and `usage/<user>/usage.json`. Flat conversation files name nobody.
 */
export function ownerFromPath(path: string): string | null {
  const parent = basename(dirname(path))
  const grandparent = basename(dirname(dirname(path)))
  if (parent === 'usage') return basename(path, '.json')
  if (grandparent === 'usage' || grandparent === 'conversations') return parent
  return null
}

/** Every `.json` file under the given files and directories, sorted, without reading any of them. */
export async function discover(paths: string[]): Promise<SourceFile[]> {
  const files: string[] = []
  const walk = async (path: string): Promise<void> => {
    const entries: Dirent[] = await fs.readdir(path, { withFileTypes: true })
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const full = join(path, entry.name)
      if (entry.isDirectory()) await walk(full)
      else if (entry.isFile() && entry.name.endsWith('.json')) files.push(full)
    }
  }
  for (const path of paths) {
    const stat = await fs.stat(path)
    if (stat.isDirectory()) await walk(path)
    else files.push(path)
  }
  return [...new Set(files)].map((path) => ({ path, owner: ownerFromPath(path) }))
}
