/**
 * Who a `grant*` method grants to. Anything with an IAM member works: a
 * construct of this library that runs as a service account (e.g.
 * `HttpIngestFunction`), a `google_service_account` resource, or a member
 * string such as `group:analysts@example.com`.
 */
export type Grantee = IGrantable | { readonly member: string } | string;

/** A construct that acts as one IAM principal. */
export interface IGrantable {
  /** The IAM member string, e.g. `serviceAccount:api-fn@my-project.iam.gserviceaccount.com`. */
  readonly iamMember: string;
}

/**
 * A service account that already exists, for props that attach an identity
 * made elsewhere (e.g. by a bootstrap stack applied with more rights than the
 * deployer has). A `google_service_account` resource or data source fits.
 */
export interface ServiceAccountReference {
  /** The account's e-mail, e.g. `api-fn@my-project.iam.gserviceaccount.com`. */
  readonly email: string;
  /** Its IAM member string, `serviceAccount:<email>`. */
  readonly member: string;
}
