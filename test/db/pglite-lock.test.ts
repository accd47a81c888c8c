import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { DirectoryInUseError, lockDirectory } from '../../src/db/pglite-lock.ts'

const root = mkdtempSync(join(tmpdir(), 'llmc-lockfile-'))
t.teardown(() => rmSync(root, { recursive: true, force: true }))

t.test('the lock holds our pid and is released', async (t) => {
  const dir = join(root, 'a')
  const release = lockDirectory(dir)
  t.equal(readFileSync(`${dir}.lock`, 'utf8').trim(), String(process.pid))
  t.throws(() => lockDirectory(dir), DirectoryInUseError, 'this process cannot take it twice')
  release()
  t.notOk(existsSync(`${dir}.lock`))
  lockDirectory(dir)()
})

t.test('a lock left by a process that is gone is taken over', async (t) => {
  const dir = join(root, 'b')
  // No process has this pid (the kernel's pid_max is below it).
  writeFileSync(`${dir}.lock`, '99999999\n')
  const release = lockDirectory(dir)
  t.equal(readFileSync(`${dir}.lock`, 'utf8').trim(), String(process.pid))
  release()
})

t.test('a lock naming our own pid from an earlier run (pid 1 in a container) is stale', async (t) => {
  const dir = join(root, 'c')
  writeFileSync(`${dir}.lock`, `${process.pid}\n`)
  lockDirectory(dir)()
  t.pass()
})

t.test('a lock held by a live process is refused with its pid', async (t) => {
  const dir = join(root, 'd')
  writeFileSync(`${dir}.lock`, `${process.ppid}\n`)
  t.throws(() => lockDirectory(dir), { message: `PGLITE_DIR ${dir} is in use by pid ${process.ppid}: stop that process or set another PGLITE_DIR` })
})

t.test('one directory, however spelled, takes one lock; a lock path that is a directory is a clear error', async (t) => {
  const dir = join(root, 'e')
  mkdirSync(dir)
  symlinkSync(dir, join(root, 'e-alias'))
  const release = lockDirectory(join(root, 'e-alias'))
  t.ok(existsSync(`${dir}.lock`), 'the lock sits beside the real directory')
  t.throws(() => lockDirectory(dir), { name: 'DirectoryInUseError', message: /is in use by pid/ })
  release()

  const blocked = join(root, 'f')
  mkdirSync(`${blocked}.lock`)
  t.throws(() => lockDirectory(blocked), { name: 'DirectoryInUseError', message: `PGLITE_DIR ${blocked}: its lock file ${blocked}.lock is not a file: remove it or set another PGLITE_DIR` })
  writeFileSync(join(root, 'file'), '')
  t.throws(() => lockDirectory(join(root, 'file', 'db')), { name: 'DirectoryInUseError', message: /^PGLITE_DIR .* cannot be used: / }, 'a parent that is a file')
})
