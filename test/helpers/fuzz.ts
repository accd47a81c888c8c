import type { Test } from 'tap'

/**
 * The fuzzing budget: seeded, so a failure in CI happens again on any machine with the same
 * FUZZ_SEED; FUZZ_SCALE multiplies every property's runs (0.1 for a quick pass, 10 for a long one).
 */
export const FUZZ = {
  seed: Number(process.env.FUZZ_SEED ?? 20261129),
  runs: (base: number) => Math.max(1, Math.round(base * Number(process.env.FUZZ_SCALE ?? 1)))
}

/** One line of the tap output that says how many generated cases ran, and what they got. */
export function fuzzReport(t: Test, name: string, cases: number, outcomes: Map<number | string, number>): void {
  const spread = [...outcomes.entries()].sort(([a], [b]) => String(a).localeCompare(String(b))).map(([key, count]) => `${key}: ${count}`).join(', ')
  t.comment(`fuzz ${name}: ${cases} generated cases (seed ${FUZZ.seed}); ${spread}`)
  t.ok(cases > 0, `${name}: ${cases} cases ran`)
}
