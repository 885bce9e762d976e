import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readStackContents, type TerraformJson } from '../../../tools/smoke-bundles/synthesized-functions';
import { scratchDirectory } from '../../support/scratch-directory';

const scratch = scratchDirectory('synthesized-functions-');

const ZIP_SOURCE = 'assets/api_bundle/0123/function-source.zip';

/** A stack shaped like the synthesized ones: a function, its zip, the dataset and table it writes to, a push subscription. */
function stackJson(environment: Record<string, unknown>): TerraformJson {
  return {
    provider: { google: [{ project: 'smoke-project', region: 'us-central1' }] },
    resource: {
      google_cloudfunctions2_function: {
        api_function: {
          name: 'ingest-api',
          build_config: {
            runtime: 'nodejs24',
            entry_point: 'api',
            source: { storage_source: { bucket: '${google_storage_bucket.source.name}', object: '${google_storage_bucket_object.api_zip.name}' } },
          },
          service_config: { environment_variables: environment },
        },
      },
      google_storage_bucket_object: { api_zip: { name: 'ingest-api/0123.zip', source: ZIP_SOURCE } },
      google_bigquery_dataset: { dataset: { dataset_id: 'ingest' } },
      google_bigquery_table: {
        table: {
          project: '${google_bigquery_dataset.dataset.project}',
          dataset_id: '${google_bigquery_dataset.dataset.dataset_id}',
          table_id: 'records',
          schema: '[{"name":"id","type":"STRING","mode":"REQUIRED","description":"id"}]',
        },
        view: { dataset_id: '${google_bigquery_dataset.dataset.dataset_id}', table_id: 'records_latest', view: { query: 'SELECT 1' } },
      },
      google_pubsub_subscription: {
        push: { name: 'ingest-push', push_config: { push_endpoint: '${google_cloudfunctions2_function.api_function.url}' } },
      },
      google_pubsub_topic: { dead_letter: { name: 'ingest-dead-letter' }, elsewhere: { name: 'other', project: 'other-project' } },
    },
  };
}

function stackDirectory(): string {
  const directory = scratch.fresh();
  mkdirSync(join(directory, ZIP_SOURCE, '..'), { recursive: true });
  writeFileSync(join(directory, ZIP_SOURCE), 'zip');
  return directory;
}

describe('readStackContents', () => {
  it('resolves environment references through literal attributes and the provider project', () => {
    const directory = stackDirectory();
    const { functions, tables, topics } = readStackContents(
      'dev',
      directory,
      stackJson({
        GOOGLE_CLOUD_PROJECT: '${google_bigquery_table.table.project}',
        BIGQUERY_TABLE: '${google_bigquery_table.table.table_id}',
        TABLE_PATH: '${google_bigquery_table.table.dataset_id}.${google_bigquery_table.table.table_id}',
        MAX_BODY_BYTES: '1048576',
        DEAD_LETTER_TOPIC: 'projects/${google_pubsub_topic.dead_letter.project}/topics/${google_pubsub_topic.dead_letter.name}',
      }),
    );
    expect(functions).toEqual([
      {
        stack: 'dev',
        name: 'ingest-api',
        runtime: 'nodejs24',
        entryPoint: 'api',
        zipPath: join(directory, ZIP_SOURCE),
        environment: {
          GOOGLE_CLOUD_PROJECT: 'smoke-project',
          BIGQUERY_TABLE: 'records',
          TABLE_PATH: 'ingest.records',
          MAX_BODY_BYTES: '1048576',
          DEAD_LETTER_TOPIC: 'projects/smoke-project/topics/ingest-dead-letter',
        },
        pushSubscription: 'projects/smoke-project/subscriptions/ingest-push',
      },
    ]);
    expect(topics).toEqual(['projects/smoke-project/topics/ingest-dead-letter', 'projects/other-project/topics/other']);
    expect(tables).toEqual([
      {
        ref: { projectId: 'smoke-project', datasetId: 'ingest', tableId: 'records' },
        fields: [{ name: 'id', type: 'STRING', mode: 'REQUIRED', description: 'id' }],
      },
    ]);
  });

  it('refuses a variable whose value is only known after apply, naming the variable', () => {
    expect(() => readStackContents('dev', stackDirectory(), stackJson({ PUSH_URL: '${google_cloudfunctions2_function.api_function.url}' }))).toThrow(
      'dev: google_cloudfunctions2_function.api_function.service_config.environment_variables.PUSH_URL refers to google_cloudfunctions2_function.api_function.url, which is only known after apply',
    );
  });

  it('refuses a function whose zip is not in the stack directory', () => {
    expect(() => readStackContents('prod', scratch.fresh(), stackJson({}))).toThrow(
      `prod: google_cloudfunctions2_function.api_function: the zip ${ZIP_SOURCE} is not in the synthesized stack directory`,
    );
  });
});
