/**
 * How many cases property tests generate. `npm test` on a laptop runs a
 * sample, so the suite stays under a minute; CI (`CI=true`) runs every
 * property at its full count, and `FUZZ_RUNS=<n>` sets the generated
 * requests per fuzzed entry point (and turns on the full counts elsewhere).
 */
const fuzzRunsVariable = process.env.FUZZ_RUNS?.trim();

/** True when every property runs its full count. */
export const FULL_PROPERTY_RUNS = process.env.CI === 'true' || Boolean(fuzzRunsVariable);

/** Generated requests per fuzzed entry point in a full run. */
export const FULL_FUZZ_INPUTS = 10_000;

function fuzzInputsFromVariable(raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < 1) throw new Error(`FUZZ_RUNS must be a positive whole number, got ${JSON.stringify(raw)}`);
  return value;
}

/** Generated requests per fuzzed entry point in this run. */
export const FUZZ_INPUTS = fuzzRunsVariable ? fuzzInputsFromVariable(fuzzRunsVariable) : FULL_PROPERTY_RUNS ? FULL_FUZZ_INPUTS : 800;

/** `full` cases in a full run, a tenth of them (at least 20) otherwise. */
export function propertyRuns(full: number): number {
  return FULL_PROPERTY_RUNS ? full : Math.min(full, Math.max(20, Math.ceil(full / 10)));
}
