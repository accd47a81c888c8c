import { randomUUID } from 'node:crypto'
import type { NewRun, RunEnd } from '../../src/repos/messages.ts'

/** A run to start with a question stored straight through the repository. */
export const newRun = (): NewRun => ({
  id: randomUUID(),
  council: { preset: 'default', models: ['m/one'], chairman: 'm/chair', stage2: true, system_prompt: null, prompts_version: 2, min_answers: 1, exclude_self_votes: true }
})

/** How a run stored straight through the repository ends (no such run need exist). */
export const ended = (): RunEnd => ({ id: randomUUID(), state: 'complete' })
