/**
 * Variants (baselines and a candidate) under the same load in the same run:
 * each round starts a fresh instance of each, back to back, rotating which
 * goes first so slow drift on a shared machine favours none of them; the
 * rounds are pooled.
 */
import { runLoad, summarize, type LoadRequest, type LoadResult, type LoadSummary } from './load';
import { median } from './report';

/** How long and how hard each variant is driven; `run.ts` chooses them. */
export interface LoadSettings {
  rounds: number;
  warmupMs: number;
  durationMs: number;
}

export interface RunningVariant<T> {
  url: string;
  /** Stops the instance after its load and returns what it checked (e.g. rows stored). */
  finish(): Promise<T>;
}

export interface LoadVariant<T> {
  label: string;
  start(round: number): Promise<RunningVariant<T>>;
  /** The `sequence`-th request of `round`; ids must be unique across rounds. */
  request(round: number, sequence: number): LoadRequest;
}

export interface VariantOutcome<T> {
  label: string;
  summary: LoadSummary;
  runs: readonly LoadResult[];
  /** What `finish` returned, per round. */
  checks: readonly T[];
}

/** Far more than any variant can answer in the window on two cores; only a bound. */
const MAX_REQUESTS_PER_SECOND = 200_000;

async function measure<T>(variant: LoadVariant<T>, round: number, connections: number, settings: LoadSettings) {
  const running = await variant.start(round);
  let run: LoadResult;
  try {
    run = await runLoad({
      url: running.url,
      connections,
      warmupMs: settings.warmupMs,
      durationMs: settings.durationMs,
      maxRequests: Math.ceil(((settings.warmupMs + settings.durationMs) / 1000) * MAX_REQUESTS_PER_SECOND),
      nextRequest: (sequence) => variant.request(round, sequence),
    });
  } catch (error) {
    await running.finish().catch(() => undefined);
    throw error;
  }
  return { run, check: await running.finish() };
}

/** Runs every variant under the same load, `settings.rounds` times, rotating which goes first. */
export async function compareUnderLoad<T>(
  variants: readonly LoadVariant<T>[],
  connections: number,
  settings: LoadSettings,
): Promise<VariantOutcome<T>[]> {
  const runs = variants.map(() => [] as LoadResult[]);
  const checks = variants.map(() => [] as T[]);
  for (let round = 0; round < settings.rounds; round++) {
    for (let turn = 0; turn < variants.length; turn++) {
      const index = (turn + round) % variants.length;
      const { run, check } = await measure(variants[index]!, round, connections, settings);
      runs[index]!.push(run);
      checks[index]!.push(check);
    }
  }
  return variants.map((variant, index) => ({
    label: variant.label,
    summary: summarize(runs[index]!),
    runs: runs[index]!,
    checks: checks[index]!,
  }));
}

/** Requests/s of each of a variant's rounds, in round order. */
export function roundRates(outcome: Pick<VariantOutcome<unknown>, 'runs'>): number[] {
  return outcome.runs.map((run) => summarize([run]).requestsPerSecond);
}

const wholeNumber = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/**
 * One line on how a comparison spread over its rounds: the baseline's
 * requests/s (how busy the machine was; compare runs by it) and the
 * candidate's ratio to the baseline round by round (each round runs both back
 * to back). The pooled ratio in the table can hide a run whose rounds
 * disagree.
 */
export function roundSpread(
  benchmark: string,
  /** What one request carries, e.g. `requests` or `messages`. */
  unit: string,
  baseline: Pick<VariantOutcome<unknown>, 'label' | 'runs'>,
  candidate: Pick<VariantOutcome<unknown>, 'label' | 'runs'>,
): string {
  const baselineRates = roundRates(baseline);
  const ratios = roundRates(candidate).map((rate, round) => rate / baselineRates[round]!);
  const range = (values: readonly number[], show: (value: number) => string) => {
    const [lowest, highest] = [show(Math.min(...values)), show(Math.max(...values))];
    return lowest === highest ? lowest : `${lowest}-${highest}`;
  };
  const hundredths = (ratio: number) => ratio.toFixed(2);
  return (
    `${benchmark} by round: ${baseline.label} ${range(baselineRates, (rate) => wholeNumber.format(rate))} ${unit}/s; ` +
    `${candidate.label} ÷ ${baseline.label} ${range(ratios, hundredths)}× (median ${hundredths(median(ratios))}×)\n`
  );
}
