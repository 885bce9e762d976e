/**
 * `encryptionKey`: one typed key reference for every construct that stores
 * data, taking a `google_kms_crypto_key` resource, its data source, or a key
 * made elsewhere by id; and the policy pack's CMEK rule sees the key.
 */
import { Aspects, Testing, type TerraformStack } from 'cdktf';
import { DataGoogleKmsCryptoKey } from '@cdktf/provider-google/lib/data-google-kms-crypto-key';
import { KmsCryptoKey } from '@cdktf/provider-google/lib/kms-crypto-key';
import type { IEncryptionKey } from '../../constructs/encryption-key';
import { FunctionSourceBucket } from '../../constructs/function-source-bucket';
import { IngestTopic } from '../../constructs/ingest-topic';
import { GcpPolicyPack } from '../../constructs/policy-pack';
import { WarehouseTable } from '../../constructs/warehouse-table';
import { resourceList, synthesize, validationErrors } from '../support/synth';

const KEY_NAME = 'projects/security/locations/us/keyRings/data/cryptoKeys/ingest';

/** Every construct that takes `encryptionKey`. */
function encryptedPipeline(stack: TerraformStack, key: IEncryptionKey | undefined): void {
  new FunctionSourceBucket(stack, 'source', { location: 'US', encryptionKey: key });
  new IngestTopic(stack, 'ingest', { encryptionKey: key });
  new WarehouseTable(stack, 'warehouse', { datasetId: 'ingest', encryptionKey: key });
}

/** The key fields those constructs write in the synthesized JSON. */
function keyFields(parsed: ReturnType<typeof synthesize>['parsed']): unknown[] {
  return [
    ...resourceList(parsed, 'google_storage_bucket').map((bucket) => (bucket.encryption as { default_kms_key_name: string }).default_kms_key_name),
    ...resourceList(parsed, 'google_pubsub_topic').map((topic) => topic.kms_key_name),
    ...resourceList(parsed, 'google_bigquery_dataset').map((dataset) => (dataset.default_encryption_configuration as { kms_key_name: string }).kms_key_name),
    ...resourceList(parsed, 'google_bigquery_table')
      .filter((table) => table.view === undefined)
      .map((table) => (table.encryption_configuration as { kms_key_name: string }).kms_key_name),
  ];
}

describe('encryptionKey', () => {
  it('takes a google_kms_crypto_key resource: every store references its id', () => {
    const { parsed, stack } = synthesize((scope) => {
      const key = new KmsCryptoKey(scope, 'key', { name: 'ingest', keyRing: 'projects/security/locations/us/keyRings/data' });
      encryptedPipeline(scope, key);
    });
    expect(validationErrors(stack)).toEqual([]);
    const fields = keyFields(parsed);
    expect(fields).toHaveLength(5);
    expect(new Set(fields)).toEqual(new Set(['${google_kms_crypto_key.key.id}']));
  });

  it('takes the data source of a key made elsewhere', () => {
    const { parsed } = synthesize((scope) => {
      encryptedPipeline(scope, new DataGoogleKmsCryptoKey(scope, 'key', { name: 'ingest', keyRing: 'projects/security/locations/us/keyRings/data' }));
    });
    expect(new Set(keyFields(parsed))).toEqual(new Set(['${data.google_kms_crypto_key.key.id}']));
  });

  it('takes a key by its full resource name', () => {
    const { parsed } = synthesize((scope) => encryptedPipeline(scope, { id: KEY_NAME }));
    expect(new Set(keyFields(parsed))).toEqual(new Set([KEY_NAME]));
  });

  it('refuses a name that is not a crypto key, naming the prop on each construct', () => {
    const { stack } = synthesize((scope) => encryptedPipeline(scope, { id: 'projects/security/locations/us/keyRings/data' }));
    expect(validationErrors(stack)).toEqual(Array.from({ length: 3 }, () => expect.stringMatching(/^encryptionKey: must be a Cloud KMS key: /)));
  });

  it('satisfies the policy pack when it requires CMEK, and only then', () => {
    const findingsWith = (key: IEncryptionKey | undefined) => {
      const { stack } = synthesize((scope) => {
        encryptedPipeline(scope, key);
        Aspects.of(scope).add(new GcpPolicyPack({ environment: 'dev', requireCmek: true }));
      });
      Testing.synth(stack);
      return GcpPolicyPack.findings(stack).filter((finding) => finding.ruleId === 'GCP-KMS-001');
    };
    expect(findingsWith({ id: KEY_NAME })).toEqual([]);
    expect(findingsWith(undefined).map((finding) => finding.message)).toEqual(
      expect.arrayContaining([expect.stringMatching(/pass encryptionKey \(IngestTopic, WarehouseTable\)/)]),
    );
  });
});
