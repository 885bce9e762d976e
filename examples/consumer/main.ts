/**
 * A cdktf app of its own that installs gcp-ingest-cdktf (`npm install
 * gcp-ingest-cdktf`) and composes its constructs with resources of its own.
 * `npm run test:consumer` in the library's repository installs this app
 * from its lockfile plus a freshly packed tarball of the library, compiles
 * it with the tsconfig that `cdktf init --template=typescript` generates,
 * synthesizes it and checks the result (check-synth.ts).
 */
import { Construct } from "constructs";
import { App, Aspects, TerraformOutput, TerraformStack } from "cdktf";
import { BigqueryDataset } from "@cdktf/provider-google/lib/bigquery-dataset";
import { DataGoogleBigqueryDataset } from "@cdktf/provider-google/lib/data-google-bigquery-dataset";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { GcpPolicyPack, HttpIngestFunction, IngestTopic, MonitoringAlerts, WarehouseTable } from "gcp-ingest-cdktf";

const PROJECT = "acme-orders-dev";
const REGION = "europe-west1";

/** The orders pipeline: the library's four constructs around a dataset this app already had. */
class OrdersStack extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    new GoogleProvider(this, "google", { project: PROJECT, region: REGION });
    Aspects.of(this).add(new GcpPolicyPack({ environment: "dev" }));

    // A resource of this app's own: the dataset its analysts already query.
    const analytics = new BigqueryDataset(this, "analytics", {
      datasetId: "analytics",
      location: "EU",
      description: "Orders analytics (managed by this app).",
      deleteContentsOnDestroy: true,
    });
    const orders = new WarehouseTable(this, "orders", {
      datasetId: "analytics",
      existingDataset: analytics,
      tableId: "orders",
      disposable: true,
      labels: { team: "orders" },
    });

    const api = new HttpIngestFunction(this, "orders-api", {
      handler: "api",
      region: REGION,
      maxInstanceCount: 3,
      environment: { ...orders.warehouseEnvironment },
      labels: { team: "orders" },
    });
    const subscriber = new HttpIngestFunction(this, "orders-subscriber", {
      handler: "subscriber",
      region: REGION,
      maxInstanceCount: 2,
      environment: { ...orders.warehouseEnvironment },
      sourceBucket: api.sourceBucket,
      buildEnvironment: api.buildEnvironment,
    });
    orders.grantInsert(api);
    orders.grantRead(api);
    orders.grantInsert(subscriber);

    const topic = new IngestTopic(this, "orders-topic", { topicName: "orders", pushTarget: subscriber });
    topic.grantPublish(`serviceAccount:checkout@${PROJECT}.iam.gserviceaccount.com`);

    new MonitoringAlerts(this, "monitoring", {
      project: PROJECT,
      namePrefix: "orders-dev",
      apiServiceName: api.functionName,
      subscriberServiceName: subscriber.functionName,
      deadLetterSubscriptionName: topic.deadLetterSubscriptionName,
      notificationChannels: [{ type: "email", address: "orders-oncall@acme-data.io" }],
    });

    new TerraformOutput(this, "api_url", { value: api.url });
  }
}

/** One construct alone: a warehouse table in a dataset that another team manages. */
class ReportingStack extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    new GoogleProvider(this, "google", { project: PROJECT, region: REGION });
    Aspects.of(this).add(new GcpPolicyPack({ environment: "dev" }));
    const shared = new DataGoogleBigqueryDataset(this, "shared", { datasetId: "shared_reporting", project: "acme-data-platform" });
    new WarehouseTable(this, "returns", { datasetId: "shared_reporting", existingDataset: shared, tableId: "returns" });
  }
}

const app = new App();
new OrdersStack(app, "orders");
new ReportingStack(app, "reporting");
app.synth();
