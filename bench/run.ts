/**
 * `npm run bench`: every benchmark, each against a baseline measured in the
 * same run; prints the table and writes `bench/results.json`.
 *
 *   npm run bench                      all benchmarks, full length; also rewrites the table in docs/performance.md
 *   npm run bench -- --only=cold-start one (or a comma-separated few); results.json is not written
 *   npm run bench -- --quick           short windows for a smoke run; results.json is not written
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bigQueryPathBenchmark } from './bigquery-path';
import { coldStartBenchmark } from './cold-start';
import type { LoadSettings } from '../tools/bench/compare';
import { duckDbReadsBenchmark, type ReadSettings } from './duckdb-reads';
import { httpIngestBenchmark, pushPathBenchmark } from './duckdb-throughput';
import { cleanUp } from './functions';
import { hostileBodiesBenchmark } from './hostile-bodies';
import { machine, markdownTable, type Machine, type Row } from '../tools/bench/report';
import { synthBenchmark } from './synth';

export interface RunSettings {
  load: LoadSettings;
  coldStartRepetitions: number;
  synthRepetitions: number;
  reads: ReadSettings;
}

/**
 * Short alternating rounds: this shared machine's speed drifts by a tenth or more within seconds, and many short
 * rounds, taking turns, let every variant sample the same drift (two long rounds put whole slow spells on one side).
 */
const FULL: RunSettings = {
  load: { rounds: 8, warmupMs: 1000, durationMs: 3000 },
  coldStartRepetitions: 9,
  synthRepetitions: 5,
  reads: { records: 900_000, updates: 100_000, samples: 41 },
};
const QUICK: RunSettings = {
  load: { rounds: 1, warmupMs: 500, durationMs: 1500 },
  coldStartRepetitions: 3,
  synthRepetitions: 1,
  reads: { records: 90_000, updates: 10_000, samples: 11 },
};

export const BENCHMARKS: Readonly<Record<string, (settings: RunSettings) => Promise<Row[]>>> = {
  'http-ingest': (settings) => httpIngestBenchmark(settings.load),
  bigquery: (settings) => bigQueryPathBenchmark(settings.load),
  'cold-start': (settings) => coldStartBenchmark(settings.coldStartRepetitions),
  synth: (settings) => synthBenchmark(settings.synthRepetitions),
  push: (settings) => pushPathBenchmark(settings.load),
  'hostile-bodies': (settings) => hostileBodiesBenchmark(settings.load),
  'duckdb-reads': (settings) => duckDbReadsBenchmark(settings.reads),
};

const RESULTS_PAGE = join(__dirname, '..', 'docs', 'performance.md');
const TABLE_START = '<!-- bench-table:start -->\n';
const TABLE_END = '\n<!-- bench-table:end -->';

/** The latest results in docs/performance.md: the table and the machine, between its table markers. */
export function resultsTable(rows: readonly Row[], host: Machine, date: Date): string {
  return (
    `${markdownTable(rows)}\n\nRun ${date.toISOString().slice(0, 10)} on ${host.cpu} (${host.cores} cores, ${host.memoryGiB} GiB), ` +
    `Node.js ${host.node}, ${host.platform}; \`bench/results.json\` holds the same rows.`
  );
}

function updateResultsPage(table: string): void {
  const page = readFileSync(RESULTS_PAGE, 'utf8');
  const start = page.indexOf(TABLE_START);
  const end = page.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`docs/performance.md has no ${TABLE_START.trim()} ... ${TABLE_END.trim()} markers`);
  writeFileSync(RESULTS_PAGE, `${page.slice(0, start + TABLE_START.length)}${table}${page.slice(end)}`);
}

function parseArguments(argv: readonly string[]): { names: string[]; quick: boolean } {
  let names = Object.keys(BENCHMARKS);
  let quick = false;
  for (const argument of argv) {
    if (argument === '--quick') quick = true;
    else if (argument.startsWith('--only=')) names = argument.slice('--only='.length).split(',');
    else throw new Error(`unknown argument ${argument}; use --only=${Object.keys(BENCHMARKS).join(',')} and/or --quick`);
  }
  const unknown = names.filter((name) => !(name in BENCHMARKS));
  if (unknown.length > 0) throw new Error(`unknown benchmark(s) ${unknown.join(', ')}; known: ${Object.keys(BENCHMARKS).join(', ')}`);
  return { names, quick };
}

async function main(): Promise<void> {
  const { names, quick } = parseArguments(process.argv.slice(2));
  const settings = quick ? QUICK : FULL;
  const rows: Row[] = [];
  try {
    for (const name of names) {
      process.stderr.write(`running ${name}...\n`);
      const started = performance.now();
      rows.push(...(await BENCHMARKS[name]!(settings)));
      process.stderr.write(`${name} took ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    }
  } finally {
    cleanUp();
  }
  const host = machine();
  process.stdout.write(`\n${markdownTable(rows)}\n\n`);
  process.stdout.write(`machine: ${host.cpu}, ${host.cores} cores, ${host.memoryGiB} GiB, Node.js ${host.node} (${host.platform})\n`);
  const complete = !quick && names.length === Object.keys(BENCHMARKS).length;
  if (complete) {
    const date = new Date();
    const results = { date: date.toISOString(), machine: host, settings, rows };
    writeFileSync(join(__dirname, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    updateResultsPage(resultsTable(rows, host, date));
    process.stdout.write('wrote bench/results.json and the table in docs/performance.md\n');
  }
  const failed = rows.filter((result) => result.pass === false);
  if (failed.length > 0) {
    process.stdout.write(`${failed.length} target(s) missed: ${failed.map((result) => `${result.benchmark} ${result.metric}`).join('; ')}\n`);
    process.exitCode = 1;
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    cleanUp();
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
