import { execFileSync } from 'node:child_process'
import { chownSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'

const BIN = '/usr/lib/postgresql/15/bin'
const asRoot = process.getuid?.() === 0

/** Runs a PostgreSQL tool as the postgres user (it refuses to run as root). */
function pgTool(tool: string, args: string[]): void {
  const command = asRoot ? ['runuser', ['-u', 'postgres', '--', join(BIN, tool), ...args]] : [join(BIN, tool), args]
  execFileSync(command[0] as string, command[1] as string[], { stdio: 'pipe' })
}

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

export const hasPostgresBinaries = (() => {
  try {
    execFileSync(join(BIN, 'initdb'), ['--version'], { stdio: 'pipe' })
    return true
  } catch {
    return false
  }
})()

/** A throwaway PostgreSQL cluster of the test's own, on 127.0.0.1, that the test can stop and start. */
export async function startCluster(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'llmc-cluster-'))
  if (asRoot) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString()), Number(execFileSync('id', ['-g', 'postgres']).toString()))
  const port = await freePort()
  pgTool('initdb', ['-D', dir, '-A', 'trust', '-U', 'postgres', '--no-sync'])
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`
  const cluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start: () => pgTool('pg_ctl', ['-D', dir, '-o', options, '-l', join(dir, 'log'), '-w', 'start']),
    stop: () => pgTool('pg_ctl', ['-D', dir, '-m', 'fast', '-w', 'stop'])
  }
  cluster.start()
  t.teardown(() => {
    try {
      cluster.stop()
    } catch {
      // Already stopped.
    }
    rmSync(dir, { recursive: true, force: true })
  })
  return cluster
}
