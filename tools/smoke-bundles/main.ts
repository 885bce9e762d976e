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
 * stack's schemas) and Pub/Sub at the local Pub/Sub stand-in (the stack's
 * topics). A function that a push subscription delivers to gets a Pub/Sub
 * push envelope carrying the seed's record, then one carrying poison, which
 * must be acknowledged (202) and, when the function's environment names a
 * `DEAD_LETTER_TOPIC`, land on that topic exactly once; any other function
 * gets the seed's curl (`POST /`, which must answer 200 with the seed's body
 * byte for byte). Either way the record must reach the stand-in, and the
 * function must exit cleanly on SIGTERM. One line per zip, then
 * `bundles: N passed, M failed`; any failure exits non-zero.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INSERT_IDS } from '../../lambda-src/handlers/store';
import { DEAD_LETTER_TOPIC } from '../../lambda-src/rules/naming';
import { buildApp } from '../../stacks/main';
import { BigQueryStandIn } from '../bigquery-standin';
import { PubSubStandIn } from '../pubsub-standin';
import { SEED_BODY, SEED_SUCCESS } from '../seed';
import { extractZip } from '../synth-zip';
import { buildLikeBuildpack, launchLikeCloudRun, stopEveryFunction } from './buildpack';
import { nodeBinaryFor } from './node-release';
import { readSynthesizedApp, type SynthesizedFunction, type SynthesizedStackContents } from './synthesized-functions';

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

function pushEnvelope(data: string, messageId: string, subscription: string): string {
  return JSON.stringify({
    message: { data: Buffer.from(data).toString('base64'), messageId, publishTime: new Date().toISOString(), attributes: { origin: 'smoke' } },
    subscription,
  });
}

/** Sends the seed's curl, or a push envelope carrying the same JSON when a push subscription feeds the function. */
async function deliver(fn: SynthesizedFunction, url: string): Promise<Delivery> {
  if (fn.pushSubscription === undefined) {
    const { status, text } = await post(url, SEED_BODY);
    if (status !== 200 || text !== SEED_SUCCESS) throw new Error(`POST / answered ${status} ${text}, expected 200 ${SEED_SUCCESS}`);
    return { description: "seed's POST / answered 200 with the seed's body" };
  }
  const messageId = `smoke-${fn.stack}-${fn.name}`;
  const { status, text } = await post(url, pushEnvelope(SEED_BODY, messageId, fn.pushSubscription));
  if (status !== 200) throw new Error(`the push envelope from ${fn.pushSubscription} was answered ${status} ${text}, expected 200`);
  return { description: 'push envelope acked (200)', insertId: INSERT_IDS.pushMessage(messageId)(0) };
}

/** Data no retry can store: the seed's record without its value. */
const POISON = '{"data":{"id":"123","name":"Sample Data"}}';

/**
 * Pushes poison: it must be acknowledged with 202, and published once to the
 * dead-letter topic the function's environment names, with its data as sent
 * (or, without one, published nowhere).
 */
async function deliverPoison(fn: SynthesizedFunction, subscription: string, url: string, pubsub: PubSubStandIn): Promise<string> {
  const topic = fn.environment[DEAD_LETTER_TOPIC.variable];
  const { status, text } = await post(url, pushEnvelope(POISON, `smoke-poison-${fn.stack}-${fn.name}`, subscription));
  if (status !== 202) throw new Error(`a poison push envelope was answered ${status} ${text}, expected 202`);
  const letters = pubsub.published();
  if (topic === undefined) {
    if (letters.length > 0) throw new Error(`without ${DEAD_LETTER_TOPIC.variable}, poison was published to ${letters.map((letter) => letter.topic).join(', ')}`);
    return 'poison acked (202), no dead-letter topic';
  }
  const landed = letters.filter((letter) => letter.topic === topic && letter.data.toString('utf8') === POISON && letter.attributes.origin === 'smoke');
  if (letters.length !== 1 || landed.length !== 1) {
    throw new Error(`poison was published as ${JSON.stringify(letters.map(({ topic: to, attributes }) => ({ to, attributes })))}, expected once to ${topic} with its data and attributes`);
  }
  return 'poison acked (202) after one dead letter';
}

/** Each table holds the record once or not at all, and at least one holds it. */
function assertStored(standIn: BigQueryStandIn, tables: SynthesizedStackContents['tables'], delivery: Delivery): void {
  const stored = tables.map((table) => ({ table, rows: standIn.rows(table.ref) }));
  const isSeedRecord = (json: Record<string, unknown>) => Object.entries(SEED_RECORD).every(([field, value]) => json[field] === value);
  const wrong = stored.filter(({ rows }) => rows.length > 1 || (rows.length === 1 && !isSeedRecord(rows[0]!.json)));
  const holding = stored.filter(({ rows }) => rows.length === 1);
  if (wrong.length > 0 || holding.length === 0) {
    const contents = stored.map(({ table, rows }) => `${table.ref.datasetId}.${table.ref.tableId}: ${JSON.stringify(rows.map((row) => row.json))}`);
    throw new Error(`the stand-in holds ${contents.join('; ')}, expected the one record ${JSON.stringify(SEED_RECORD)}`);
  }
  const otherId = holding.find(({ rows }) => delivery.insertId !== undefined && rows[0]!.insertId !== delivery.insertId);
  if (otherId) throw new Error(`the row's insert id is ${otherId.rows[0]!.insertId}, expected ${delivery.insertId}, the message's`);
}

interface Outcome {
  readonly nodeVersion?: string;
  readonly result: string;
  readonly error?: Error;
}

async function smoke(fn: SynthesizedFunction, { tables, topics }: SynthesizedStackContents): Promise<Outcome> {
  let nodeVersion: string | undefined;
  let directory: string | undefined;
  const standIn = await BigQueryStandIn.start();
  const pubsub = await PubSubStandIn.start();
  try {
    const node = await nodeBinaryFor(fn.runtime);
    nodeVersion = node.version;
    directory = extractZip(readFileSync(fn.zipPath));
    temporary.add(directory);
    for (const table of tables) standIn.createTable(table.ref, table.fields);
    for (const topic of topics) pubsub.createTopic(topic);
    await buildLikeBuildpack(directory, node);
    const served = await launchLikeCloudRun({
      directory,
      node,
      entryPoint: fn.entryPoint,
      serviceName: fn.name,
      environment: { ...fn.environment, BIGQUERY_EMULATOR_HOST: standIn.url, PUBSUB_EMULATOR_HOST: pubsub.host },
    });
    let failure: unknown;
    const results: string[] = [];
    try {
      const delivery = await deliver(fn, served.url);
      assertStored(standIn, tables, delivery);
      results.push(`${delivery.description}, row stored`);
      if (fn.pushSubscription !== undefined) results.push(await deliverPoison(fn, fn.pushSubscription, served.url, pubsub));
    } catch (error) {
      failure = error;
    }
    try {
      await served.stop();
    } catch (error) {
      failure ??= error;
    }
    if (failure !== undefined) throw new Error(`${(failure as Error).message}\n--- function output ---\n${served.output()}`);
    return { nodeVersion, result: `ok: ${results.join(', ')}, clean exit on SIGTERM` };
  } catch (error) {
    return { nodeVersion, result: 'FAILED', error: error as Error };
  } finally {
    await Promise.all([standIn.stop(), pubsub.stop()]);
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
  const functions = stacks.flatMap((stack) => stack.functions.map((fn) => ({ fn, stack })));
  if (functions.length === 0) throw new Error('no stack defines a google_cloudfunctions2_function: there is nothing to smoke');

  const failures: string[] = [];
  for (const { fn, stack } of functions) {
    const outcome = await smoke(fn, stack);
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
