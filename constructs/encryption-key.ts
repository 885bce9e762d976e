/**
 * A Cloud KMS key that encrypts what a construct stores (CMEK). A
 * `google_kms_crypto_key` resource or data source is one as it is
 * (`new KmsCryptoKey(…)`, `new DataGoogleKmsCryptoKey(…)`); a key made
 * elsewhere is `{ id: 'projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>' }`.
 *
 * The service agent of the encrypting service needs
 * `roles/cloudkms.cryptoKeyEncrypterDecrypter` on the key; the constructs
 * do not grant it, since the key often lives in a separate security project.
 */
export interface IEncryptionKey {
  /** Full resource name of the key: `projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>`. */
  readonly id: string;
}
