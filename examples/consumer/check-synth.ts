/**
 * Checks what `node main.js` synthesized into cdktf.out: the library's
 * resources sit beside this app's own, in the app's own dataset, and every
 * function zip the stack names is there.
 */
import { strict as assert } from "assert";
import { existsSync, readFileSync } from "fs";
import { join } from "path";

type Resources = Record<string, Record<string, Record<string, any>>>;
interface StackJson {
  resource?: Resources;
  data?: Resources;
}

function stack(name: string): StackJson {
  return JSON.parse(readFileSync(join("cdktf.out", "stacks", name, "cdk.tf.json"), "utf8"));
}

function resources(json: StackJson, type: string): Record<string, any>[] {
  return Object.values((json.resource ?? {})[type] ?? {});
}

const orders = stack("orders");
const datasets = Object.keys((orders.resource ?? {}).google_bigquery_dataset ?? {});
assert.deepEqual(datasets, ["analytics"], "the only dataset is the app's own");
const tables = resources(orders, "google_bigquery_table");
assert.deepEqual(tables.map((table) => table.table_id).sort(), ["orders", "orders_latest"]);
for (const table of tables) assert.equal(table.dataset_id, "${google_bigquery_dataset.analytics.dataset_id}");

const functions = resources(orders, "google_cloudfunctions2_function");
assert.deepEqual(functions.map((fn) => fn.build_config.entry_point).sort(), ["api", "subscriber"]);
for (const fn of functions) assert.equal(fn.build_config.runtime, "nodejs24");

const objects = resources(orders, "google_storage_bucket_object");
assert.equal(objects.length, 2, "one zip per function");
for (const object of objects) {
  assert.match(object.name, /^orders-(api|subscriber)\/[0-9a-f]{64}\.zip$/);
  assert.ok(existsSync(join("cdktf.out", "stacks", "orders", object.source)), `${object.source} was written`);
}

const pushSubscriptions = resources(orders, "google_pubsub_subscription").filter((subscription) => subscription.push_config);
assert.equal(pushSubscriptions.length, 1);
assert.ok(pushSubscriptions[0].push_config.oidc_token, "pushes with an OIDC token");
assert.ok(resources(orders, "google_monitoring_alert_policy").length >= 5, "the seed's alerts are there");
assert.ok(existsSync(join("cdktf.out", "grafana", "orders-dashboard.json")), "the Grafana dashboard was written");

const reporting = stack("reporting");
assert.equal((reporting.resource ?? {}).google_bigquery_dataset, undefined, "the reporting stack creates no dataset");
const reportingTables = resources(reporting, "google_bigquery_table");
assert.deepEqual(reportingTables.map((table) => table.table_id).sort(), ["returns", "returns_latest"]);
for (const table of reportingTables) assert.equal(table.dataset_id, "${data.google_bigquery_dataset.shared.dataset_id}");

console.log(`consumer synth: ${functions.length} functions, ${tables.length} tables in the app's own dataset, zips ${objects.map((object) => object.name).join(", ")}`);
