import pino from 'pino'
import { openToolDatabase, runTool } from './common.ts'

// `npm run db:migrate`: apply the committed migrations and exit (a release step before the new version starts).
await runTool('db:migrate', async () => {
  // Its log says which database and what the migrations did.
  const database = await openToolDatabase(pino({ level: 'info' }))
  await database.close()
  return 0
})
