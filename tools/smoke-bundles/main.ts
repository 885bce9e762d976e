/**
 * `npm run smoke:bundles`: every function zip the app synthesizes, built and
 * served the way Cloud Run functions would, on a real Node.js binary of the
 * function's own runtime (not this machine's Node.js).
 *
 * It synthesizes every stack into a temporary directory; for each
 * `google_cloudfunctions2_function` it unpacks the zip its storage object
 * uploads, installs it as Google's buildpack does (see `buildpack.ts`) on the
 * pinned Node.js release of `build_config.runtime` (see `node-release.ts`),
 * and starts it with its `service_config.environment_variables`, the
 * warehouse pointed at the local BigQuery stand-in (tables made from the
 * stack's schemas). A function that a push subscription delivers to gets a
 * Pub/Sub push envelope carrying the seed's record; any other gets the seed's
 * curl (`POST /`, which must answer 200 with the seed's body byte for byte).
 * Either way the record must reach the stand-in, and the function must exit
 * cleanly on SIGTERM. One line per zip, then `bundles: N passed, M failed`;
 * any failure exits non-zero.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../../stacks/main';
import { BigQueryStandIn } from '../bigquery-standin';
import { SEED_BODY, SEED_SUCCESS } from '../seed';
import { extractZip } from '../synth-zip';
import { buildLikeBuildpack, launchLikeCloudRun, stopEveryFunction } from './buildpack';
import { nodeBinaryFor } from './node-release';
import { readSynthesizedApp, type SynthesizedFunction, type SynthesizedTable } from './synthesized-functions';

/**
 * What the app needs to synthesize every stack that deploys functions, prod
 * included: the stacks to build (bootstrap deploys none), and a prod alert
 * destination that prod synthesis accepts (nothing is deployed, so no page is
 * ever sent there).
 */
const SYNTH_ENVIRONMENT = { STACKS: 'dev,prod', PROD_ALERT_EMAILS: 'oncall@latam-ingest.dev' };

const REQUEST_TIMEOUT_MS = 15_000;

/** The record the seed's curl sends, which the stand-in must end up holding. */
const SEED_RECORD = (JSON.parse(SEED_BODY) as { data: Record<string, unknown> }).data;

/** Every temporary directory not yet removed, so an interruption removes them too. */
const temporary = new Set<string>();

function removeTemporary(directories: Iterable<string> = [...temporary]): void {
  for (const directory of directories) {
    rmSync(directory, { recursive: true, force: true });
    temporary.delete(directory);
  }
}

function synthesize(outdir: string): void {
  buildApp({ outdir, env: { ...process.env, ...SYNTH_ENVIRONMENT } }).app.synth();
}

interface Delivery {
  /** What was sent, for the report. */
  readonly description: string;
  /** The insert id the stored row must carry, when the request fixes it. */
  readonly insertId?: string;
}

async function post(url: string, body: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  return { status: response.status, text: await response.text() };
}

/** Sends the seed's curl, or a push envelope carrying the same JSON when a push subscription feeds the function. */
async function deliver(fn: SynthesizedFunction, url: string): Promise<Delivery> {
  if (fn.pushSubscription === undefined) {
    const { status, text } = await post(url, SEED_BODY);
    if (status !== 200 || text !== SEED_SUCCESS) throw new Error(`POST / answered ${status} ${text}, expected 200 ${SEED_SUCCESS}`);
    return { description: "seed's POST / answered 200 with the seed's body" };
  }
  const messageId = `smoke-${fn.stack}-${fn.name}`;
  const envelope = {
    message: { data: Buffer.from(SEED_BODY).toString('base64'), messageId, publishTime: new Date().toISOString(), attributes: {} },
    subscription: fn.pushSubscription,
  };
  const { status, text } = await post(url, JSON.stringify(envelope));
  if (status !== 200) throw new Error(`the push envelope from ${fn.pushSubscription} was answered ${status} ${text}, expected 200`);
  return { description: 'push envelope acked (200)', insertId: messageId };
}

/** Each table holds the record once or not at all, and at least one holds it. */
function assertStored(standIn: BigQueryStandIn, tables: readonly SynthesizedTable[], delivery: Delivery): void {
  const stored = tables.map((table) => ({ table, rows: standIn.rows(table.ref) }));
  const isSeedRecord = (json: Record<string, unknown>) => Object.entries(SEED_RECORD).every(([field, value]) => json[field] === value);
  const wrong = stored.filter(({ rows }) => rows.length > 1 || (rows.length === 1 && !isSeedRecord(rows[0]!.json)));
  const holding = stored.filter(({ rows }) => rows.length === 1);
  if (wrong.length > 0 || holding.length === 0) {
    const contents = stored.map(({ table, rows }) => `${table.ref.datasetId}.${table.ref.tableId}: ${JSON.stringify(rows.map((row) => row.json))}`);
    throw new Error(`the stand-in holds ${contents.join('; ')}, expected the one record ${JSON.stringify(SEED_RECORD)}`);
  }
  const otherId = holding.find(({ rows }) => delivery.insertId !== undefined && rows[0]!.insertId !== delivery.insertId);
  if (otherId) throw new Error(`the row's insert id is ${otherId.rows[0]!.insertId}, expected the message id ${delivery.insertId}`);
}

interface Outcome {
  readonly nodeVersion?: string;
  readonly result: string;
  readonly error?: Error;
}

async function smoke(fn: SynthesizedFunction, tables: readonly SynthesizedTable[]): Promise<Outcome> {
  let nodeVersion: string | undefined;
  let directory: string | undefined;
  const standIn = await BigQueryStandIn.start();
  try {
    const node = await nodeBinaryFor(fn.runtime);
    nodeVersion = node.version;
    directory = extractZip(readFileSync(fn.zipPath));
    temporary.add(directory);
    for (const table of tables) standIn.createTable(table.ref, table.fields);
    await buildLikeBuildpack(directory, node);
    const served = await launchLikeCloudRun({
      directory,
      node,
      entryPoint: fn.entryPoint,
      serviceName: fn.name,
      environment: { ...fn.environment, BIGQUERY_EMULATOR_HOST: standIn.url },
    });
    let failure: unknown;
    let delivery: Delivery | undefined;
    try {
      delivery = await deliver(fn, served.url);
      assertStored(standIn, tables, delivery);
    } catch (error) {
      failure = error;
    }
    try {
      await served.stop();
    } catch (error) {
      failure ??= error;
    }
    if (failure !== undefined) throw new Error(`${(failure as Error).message}\n--- function output ---\n${served.output()}`);
    return { nodeVersion, result: `ok: ${delivery!.description}, row stored, clean exit on SIGTERM` };
  } catch (error) {
    return { nodeVersion, result: 'FAILED', error: error as Error };
  } finally {
    await standIn.stop();
    if (directory !== undefined) removeTemporary([directory]);
  }
}

function kibibytes(path: string): string {
  return `${(statSync(path).size / 1024).toFixed(1)} KiB`;
}

async function main(): Promise<number> {
  const outdir = mkdtempSync(join(tmpdir(), 'smoke-bundles-'));
  temporary.add(outdir);
  synthesize(outdir);
  const stacks = readSynthesizedApp(outdir);
  const functions = stacks.flatMap((stack) => stack.functions.map((fn) => ({ fn, tables: stack.tables })));
  if (functions.length === 0) throw new Error('no stack defines a google_cloudfunctions2_function: there is nothing to smoke');

  const failures: string[] = [];
  for (const { fn, tables } of functions) {
    const outcome = await smoke(fn, tables);
    const columns = [fn.stack, fn.name, fn.runtime, `node ${outcome.nodeVersion ?? '-'}`, kibibytes(fn.zipPath), outcome.result];
    console.log(columns.join('  '));
    if (outcome.error) failures.push(`${fn.stack}/${fn.name} (${fn.runtime}): ${outcome.error.message}`);
  }
  if (failures.length > 0) console.error(`\n${failures.join('\n\n')}\n`);
  // A closing count in the plain form that test runners' summaries take.
  console.log(`bundles: ${functions.length - failures.length} passed, ${failures.length} failed`);
  return failures.length > 0 ? 1 : 0;
}

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.once(signal, () => {
    stopEveryFunction();
    removeTemporary();
    process.exit(code);
  });
}

main()
  .then((code) => (process.exitCode = code))
  .catch((error: unknown) => {
    console.error(`smoke:bundles failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  })
  .finally(() => removeTemporary());
