import { parseArgs } from 'node:util'
import { isUserId } from '../domain.ts'
import { AccountsRepo } from '../repos/accounts.ts'
import { CannotRun, EXIT, openToolDatabase, runTool } from './common.ts'

const USAGE = `usage: npm run users -- assign <from> <email>
       npm run users -- unclaimed

assign     moves everything the user id <from> owns (conversations with their messages, usage,
           profile, API keys) to the account that signs in with <email>, in one transaction.
           Nothing is copied. <from> is typically 'local' (AUTH_MODE=none) or an import's --user.
unclaimed  lists owners of conversations that no account holds, with their conversation counts.`

await runTool('users', async () => {
  let positionals
  let help
  try {
    const parsed = parseArgs({ args: process.argv.slice(2), allowPositionals: true, options: { help: { type: 'boolean', short: 'h', default: false } } })
    positionals = parsed.positionals
    help = parsed.values.help
    const [command, ...rest] = positionals
    if (!help && !((command === 'assign' && rest.length === 2) || (command === 'unclaimed' && rest.length === 0))) throw new Error('unknown command or wrong arguments')
  } catch (error) {
    throw new CannotRun(`${(error as Error).message}\n${USAGE}`)
  }
  if (help) {
    process.stdout.write(`${USAGE}\n`)
    return EXIT.ok
  }
  const database = await openToolDatabase()
  try {
    const accounts = new AccountsRepo(database.db)
    if (positionals[0] === 'unclaimed') {
      const owners = await accounts.unclaimed(1000)
      for (const owner of owners) process.stdout.write(`${owner.user_id}\t${owner.conversations} conversations\n`)
      if (owners.length === 0) process.stdout.write('every conversation belongs to an account\n')
      return EXIT.ok
    }
    const [, from, email] = positionals as [string, string, string]
    if (!isUserId(from)) throw new CannotRun(`"${from}" is not a valid user id`)
    const target = await accounts.credentials(email)
    if (!target) throw new CannotRun(`no account signs in with ${email}: sign up in the app first`)
    if (target.userId === from) throw new CannotRun(`${from} is already that account`)
    if (await accounts.get(from)) throw new CannotRun(`${from} is an account of its own: only data of a former owner without an account can be assigned`)
    const { conversations } = await accounts.assign(from, target.userId)
    process.stdout.write(`assigned ${conversations} conversations (and usage, profile and API keys) of ${from} to ${email} in ${database.description}\n`)
    return EXIT.ok
  } finally {
    await database.close()
  }
})
