import { Construct } from 'constructs';
import { StorageBucket } from '@cdktf/provider-google/lib/storage-bucket';
import { StorageBucketObject } from '@cdktf/provider-google/lib/storage-bucket-object';
import { FunctionBundle } from './function-bundle';
import { projectData } from './private/project';
import { shortHash } from './private/naming';
import { BUCKET_NAME } from '../lambda-src/rules/naming';
import type { IEncryptionKey } from './encryption-key';
import { encryptionKeyProblem, labelProblems, matches, validateProps } from './private/validation';

/** Props of {@link FunctionSourceBucket}. */
export interface FunctionSourceBucketProps {
  /** Bucket location: a region (e.g. `us-central1`, next to the functions) or a multi-region. */
  readonly location: string;
  /**
   * Globally unique bucket name.
   * @default `<project id>-gcf-source-<6 hex of the construct path>`
   */
  readonly bucketName?: string;
  /**
   * Project that owns the bucket.
   * @default the provider's project
   */
  readonly project?: string;
  /**
   * Labels on the bucket.
   * @default no labels
   */
  readonly labels?: Record<string, string>;
  /**
   * Let `terraform destroy` delete the bucket with its objects. For disposable
   * environments only.
   * @default false
   */
  readonly forceDestroy?: boolean;
  /**
   * Cloud KMS key that encrypts new objects (CMEK). The Cloud Storage
   * service agent needs `roles/cloudkms.cryptoKeyEncrypterDecrypter` on it.
   * @default Google-managed encryption
   */
  readonly encryptionKey?: IEncryptionKey;
}

/**
 * A private bucket for function source zips: uniform bucket-level access,
 * public access prevention enforced, no ACLs. Objects are named by the zip's
 * content hash, so a deploy uploads a new object exactly when the code changed
 * and Cloud Functions rebuilds exactly then.
 */
export class FunctionSourceBucket extends Construct {
  /** The `google_storage_bucket`. */
  public readonly bucket: StorageBucket;
  /** The bucket's name. */
  public readonly bucketName: string;

  constructor(scope: Construct, id: string, props: FunctionSourceBucketProps) {
    super(scope, id);
    validateProps(this, [
      matches('bucketName', props.bucketName, BUCKET_NAME),
      ...labelProblems('labels', props.labels),
      encryptionKeyProblem('encryptionKey', props.encryptionKey),
    ]);
    const name = props.bucketName ?? `${projectData(this, props.project).projectId}-gcf-source-${shortHash(this.node.path, 6)}`;
    this.bucket = new StorageBucket(this, 'bucket', {
      name,
      project: props.project,
      location: props.location,
      uniformBucketLevelAccess: true,
      publicAccessPrevention: 'enforced',
      forceDestroy: props.forceDestroy ?? false,
      labels: props.labels,
      encryption: props.encryptionKey ? { defaultKmsKeyName: props.encryptionKey.id } : undefined,
    });
    this.bucketName = this.bucket.name;
  }

  /**
   * Uploads `bundle` as `<name>/<sha256>.zip` and returns the object.
   * @param name the object's folder and construct id, usually the function's name (unique per bucket)
   */
  public addBundle(name: string, bundle: FunctionBundle): StorageBucketObject {
    return new StorageBucketObject(this, name, {
      bucket: this.bucket.name,
      name: `${name}/${bundle.sha256}.zip`,
      source: bundle.assetPath,
      contentType: 'application/zip',
    });
  }
}
