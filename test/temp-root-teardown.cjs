// Removes the run's temporary directory made by `temp-root-setup.ts`.
const { rmSync } = require('node:fs');

module.exports = async () => {
  const root = process.env.GCP_INGEST_TEST_TEMP_ROOT;
  if (root) rmSync(root, { recursive: true, force: true });
};
