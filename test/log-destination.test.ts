import { type StdioOptions, spawn } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { type Socket, connect, createServer } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { turnBatchedDestination } from '../src/log-destination.ts'
import { ROOT } from './helpers/process.ts'

const dir = mkdtempSync(join(tmpdir(), 'llmc-log-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

/** Runs `body` in a node process of its own with the destination on its stdout; resolves with its exit and output. */
function child(name: string, body: string, onSpawn?: (child: ReturnType<typeof spawn>) => void, stdout: StdioOptions[number] = 'pipe') {
  const file = join(dir, `${name}.ts`)
  writeFileSync(file, `import { turnBatchedDestination } from ${JSON.stringify(join(ROOT, 'src/log-destination.ts'))}\nconst log = turnBatchedDestination(1)\n${body}\n`)
  const proc = spawn(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, stdio: ['ignore', stdout, 'pipe'] as StdioOptions })
  let out = ''
  let stderr = ''
  proc.stdout?.on('data', (chunk) => (out += chunk))
  proc.stderr!.on('data', (chunk) => (stderr += chunk))
  onSpawn?.(proc)
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => proc.on('close', (code) => resolve({ code, stdout: out, stderr })))
}

t.test('the lines of one turn are written together when the turn ends, in order', async (t) => {
  const path = join(dir, 'turns.log')
  const fd = openSync(path, 'w')
  t.teardown(() => closeSync(fd))
  const log = turnBatchedDestination(fd)
  log.write('one\n')
  log.write('two\n')
  t.equal(readFileSync(path, 'utf8'), '', 'nothing is written during the turn')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(readFileSync(path, 'utf8'), 'one\ntwo\n', 'both lines at the end of the turn')
  log.write('three\n')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(readFileSync(path, 'utf8'), 'one\ntwo\nthree\n', 'a later turn appends')
  log.write('four\n')
  log.flush()
  t.equal(readFileSync(path, 'utf8'), 'one\ntwo\nthree\nfour\n', 'flush writes at once')
})

t.test('lines pending when the process exits are written', async (t) => {
  const run = await child('exit', `log.write('before exit\\n'); process.exit(3)`)
  t.equal(run.code, 3)
  t.equal(run.stdout, 'before exit\n')
})

t.test('a turn with more than a pipe holds goes out whole', async (t) => {
  // 200 KB in one turn: more than a pipe's buffer, so the write is partial and completed as the reader reads.
  const run = await child('large', `for (let i = 0; i < 2000; i++) log.write('x'.repeat(99) + '\\n')`)
  t.equal(run.code, 0)
  t.equal(run.stdout.length, 200_000)
  t.equal(run.stdout.split('\n').filter(Boolean).length, 2000)
})

t.test('a non-blocking descriptor whose reader is behind gets every byte, in order', async (t) => {
  // The child's stdout is one end of a TCP connection (non-blocking, as libuv keeps sockets), whose
  // other end is not read for a while: the 8 MB turn fills the socket's buffers, so its write is
  // partial, later ones fail with EAGAIN and are retried. Two-byte characters check that what is
  // written again starts at the right byte.
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve))
  const { port } = server.address() as { port: number }
  const writer = connect(port, '127.0.0.1')
  await new Promise((resolve) => writer.once('connect', resolve))
  const reader = await accepted
  reader.pause()
  const received: Buffer[] = []
  reader.on('data', (chunk: Buffer) => received.push(chunk))
  const ended = new Promise((resolve) => reader.once('end', resolve))

  let writing!: Promise<unknown>
  const body = `process.stderr.write('writing\\n')\nconst line = 'é'.repeat(49) + '\\n'\nfor (let i = 0; i < 80_000; i++) log.write(line)`
  const run = child('nonblocking', body, (proc) => (writing = new Promise((resolve) => proc.stderr!.once('data', resolve))), writer)
  writer.destroy() // the child holds its own copy of the descriptor
  await writing
  await new Promise((resolve) => setTimeout(resolve, 300)) // the child fills the buffers and waits
  reader.resume()
  const { code, stderr } = await run
  await ended
  t.equal(code, 0, stderr)
  const text = Buffer.concat(received).toString('utf8')
  t.equal(Buffer.concat(received).length, 80_000 * 99)
  t.equal(text, ('é'.repeat(49) + '\n').repeat(80_000))
})

t.test('when the reader goes away, logging stops and the process carries on', async (t) => {
  const body = `let n = 0
const timer = setInterval(() => { log.write('line ' + n++ + '\\n'); if (n === 200) { clearInterval(timer); process.stderr.write('still running\\n') } }, 1)`
  const run = await child('epipe', body, (proc) => proc.stdout!.once('data', () => proc.stdout!.destroy()))
  t.equal(run.code, 0, 'exits normally')
  t.match(run.stderr, /still running/)
  t.notMatch(run.stderr, /Error|can no longer/, 'a closed pipe is not reported as an error')
})

t.test('a descriptor that cannot be written is reported once, and logging stops', async (t) => {
  const path = join(dir, 'read-only.log')
  writeFileSync(path, '')
  const fd = openSync(path, 'r')
  t.teardown(() => closeSync(fd))
  const reported: string[] = []
  const write = process.stderr.write.bind(process.stderr)
  process.stderr.write = ((chunk: string) => (reported.push(String(chunk)), true)) as typeof process.stderr.write
  t.teardown(() => {
    process.stderr.write = write
  })
  const log = turnBatchedDestination(fd)
  log.write('lost\n')
  log.flush()
  t.match(reported, [/log lines can no longer be written: .*EBADF/], 'one line on stderr naming the error')
  for (let i = 0; i < 3; i++) {
    log.write('also lost\n')
    log.flush()
  }
  t.equal(reported.length, 1, 'reported once')
  t.equal(readFileSync(path, 'utf8'), '')
})
