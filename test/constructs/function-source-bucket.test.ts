import { join } from 'node:path';
import { StorageBucket } from '@cdktf/provider-google/lib/storage-bucket';
import { StorageBucketObject } from '@cdktf/provider-google/lib/storage-bucket-object';
import { FunctionBundle } from '../../constructs/function-bundle';
import { FunctionSourceBucket } from '../../constructs/function-source-bucket';
import { onlyResource, synthesize, validationErrors } from '../support/synth';

const entry = join(__dirname, '..', 'fixtures', 'functions', 'hello.ts');

describe('FunctionSourceBucket with defaults', () => {
  const { json, parsed } = synthesize((stack) => {
    const bucket = new FunctionSourceBucket(stack, 'sources', { location: 'us-central1' });
    bucket.addBundle('hello', new FunctionBundle(stack, 'bundle', { entry }));
  });

  it('is private: uniform access, public access prevention enforced, kept on destroy', () => {
    expect(json).toHaveResourceWithProperties(StorageBucket, {
      location: 'us-central1',
      uniform_bucket_level_access: true,
      public_access_prevention: 'enforced',
      force_destroy: false,
    });
    const bucket = onlyResource(parsed, 'google_storage_bucket');
    expect(bucket).not.toHaveProperty('encryption');
    expect(bucket).not.toHaveProperty('labels');
  });

  it('is named after the project with a stable suffix', () => {
    expect(onlyResource(parsed, 'google_storage_bucket').name).toMatch(/^\$\{data\.google_project\.google-project\.project_id\}-gcf-source-[0-9a-f]{6}$/);
  });

  it('stores each bundle under its name and content hash', () => {
    expect(json).toHaveResourceWithProperties(StorageBucketObject, {
      name: expect.stringMatching(/^hello\/[0-9a-f]{64}\.zip$/),
      source: expect.stringMatching(/^assets\/bundle_zip_\w+\/[0-9a-f]{64}\/function-source\.zip$/),
      content_type: 'application/zip',
    });
  });
});

describe('FunctionSourceBucket with every prop', () => {
  const { json } = synthesize(
    (stack) =>
      new FunctionSourceBucket(stack, 'sources', {
        location: 'EU',
        bucketName: 'my-sources',
        project: 'other-project',
        labels: { team: 'data' },
        forceDestroy: true,
        encryptionKey: { id: 'projects/k/locations/eu/keyRings/r/cryptoKeys/gcs' },
      }),
  );

  it('passes every setting through', () => {
    expect(json).toHaveResourceWithProperties(StorageBucket, {
      name: 'my-sources',
      project: 'other-project',
      location: 'EU',
      labels: { team: 'data' },
      force_destroy: true,
      encryption: { default_kms_key_name: 'projects/k/locations/eu/keyRings/r/cryptoKeys/gcs' },
      public_access_prevention: 'enforced',
    });
  });
});

describe('FunctionSourceBucket validation', () => {
  it('refuses a name Cloud Storage would refuse', () => {
    const { stack } = synthesize((s) => new FunctionSourceBucket(s, 'b', { location: 'US', bucketName: 'Bad_Name!' }));
    expect(validationErrors(stack)).toEqual([expect.stringMatching(/^bucketName: must be a bucket name \(3-63 .*, got "Bad_Name!"$/)]);
  });
});
