import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ROOT } from './helpers/process.ts'

const read = (name: string) => JSON.parse(readFileSync(join(ROOT, name), 'utf8'))

// npm rewrites package-lock.json on install when its record of package.json is out of date; a fresh
// clone's `npm install` must leave the tree clean, and `npm ci` install exactly what is declared.
t.test('package-lock.json records package.json as it is', async (t) => {
  const pkg = read('package.json')
  const lock = read('package-lock.json')
  const root = lock.packages['']
  t.equal(lock.name, pkg.name)
  t.equal(root.version, pkg.version)
  t.same(root.dependencies, pkg.dependencies, 'dependencies')
  t.same(root.devDependencies, pkg.devDependencies, 'devDependencies')
  t.same(root.engines, pkg.engines, 'engines')
  t.equal(Boolean(root.hasInstallScript), ['preinstall', 'install', 'postinstall'].some((name) => name in pkg.scripts), 'install scripts')
  for (const name of Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })) {
    t.ok(lock.packages[`node_modules/${name}`], `${name} is locked`)
  }
})

t.test('Node 20.19 and newer', async (t) => {
  t.equal(read('package.json').engines.node, '>=20.19')
})
