// Every temporary directory the tests make, and the tools they run make (cdktf's Testing app, the bundler, the servers
// they spawn), goes under one directory per run, removed by `temp-root-teardown.cjs`: cdktf never removes the output
// directories of its test synths, and a run used to leave about eighty behind in the system's temporary directory.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUNDLE_CACHE_VARIABLE } from '../constructs/private/bundle-cache';

export default function setUpTempRoot(): void {
  const root = mkdtempSync(join(tmpdir(), 'gcp-ingest-test-'));
  process.env.GCP_INGEST_TEST_TEMP_ROOT = root;
  // Read by os.tmpdir() in the jest workers, which start after this, and in every process they spawn.
  process.env.TMPDIR = root;
  // Each test file synthesizes in a module registry of its own: they share the functions they bundle through this.
  process.env[BUNDLE_CACHE_VARIABLE] = join(root, 'bundle-cache');
}
