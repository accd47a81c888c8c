import { spawn } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { turnBatchedDestination } from '../src/log-destination.ts'
import { ROOT } from './helpers/process.ts'

const dir = mkdtempSync(join(tmpdir(), 'llmc-log-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

/** Runs `body` in a node process of its own with the destination on its stdout; resolves with its exit and output. */
function child(name: string, body: string, onStdout?: (child: ReturnType<typeof spawn>) => void) {
  const file = join(dir, `${name}.ts`)
  writeFileSync(file, `import { turnBatchedDestination } from ${JSON.stringify(join(ROOT, 'src/log-destination.ts'))}\nconst log = turnBatchedDestination(1)\n${body}\n`)
  const proc = spawn(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  proc.stdout!.on('data', (chunk) => (stdout += chunk))
  proc.stderr!.on('data', (chunk) => (stderr += chunk))
  onStdout?.(proc)
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => proc.on('close', (code) => resolve({ code, stdout, stderr })))
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
