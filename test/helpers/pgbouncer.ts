import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './cluster.ts'

const BINARY = '/usr/sbin/pgbouncer'
export const hasPgbouncer = existsSync(BINARY) && process.env.TEST_PGBOUNCER !== '0'

let running: Promise<{ port: number }> | undefined

/**
 * One PgBouncer in transaction mode for this test process, in front of the server that
 * `upstream` points at; started on first use, stopped when the process exits.
 */
export function pgbouncer(upstream: string): Promise<{ port: number }> {
  running ??= start(new URL(upstream))
  return running
}

async function start(upstream: URL): Promise<{ port: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'llmc-pgbouncer-'))
  chmodSync(dir, 0o777)
  const port = await freePort()
  const user = decodeURIComponent(upstream.username || 'postgres')
  writeFileSync(join(dir, 'users.txt'), `"${user}" ""\n`)
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    `[databases]
* = host=${upstream.hostname} port=${upstream.port || 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${join(dir, 'users.txt')}
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
logfile = ${join(dir, 'pgbouncer.log')}
`
  )
  const asRoot = process.getuid?.() === 0
  const child: ChildProcess = spawn(BINARY, [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], { stdio: 'ignore' })
  child.unref() // the test process ends when its tests do; the exit hook stops pgbouncer
  process.once('exit', () => {
    child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })
  for (let i = 0; i < 100; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => (socket.end(), resolve(true)))
      socket.on('error', () => resolve(false))
    })
    if (open) return { port }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`pgbouncer did not start: ${execFileSync('cat', [join(dir, 'pgbouncer.log')]).toString()}`)
}
