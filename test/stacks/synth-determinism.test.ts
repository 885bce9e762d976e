import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { buildApp } from '../../stacks/main';
import { ALL_STACKS_ENV, freshOutdir } from '../support/synth';

const projectRoot = join(__dirname, '..', '..');

function filesUnder(directory: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (current: string) => {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.set(relative(directory, path), readFileSync(path));
    }
  };
  walk(directory);
  return files;
}

describe('synthesis', () => {
  it('writes byte-identical output from the cdktf CLI in another process, time zone and home as from the app in-process', () => {
    const inProcess = freshOutdir();
    buildApp({ outdir: inProcess, env: ALL_STACKS_ENV, context: undefined }).app.synth();

    const viaCli = freshOutdir();
    execFileSync(join(projectRoot, 'node_modules', '.bin', 'cdktf'), ['synth', '--output', viaCli], {
      cwd: projectRoot,
      env: { ...ALL_STACKS_ENV, PATH: process.env.PATH ?? '', HOME: freshOutdir(), TZ: 'Pacific/Kiritimati', LANG: 'C', CHECKPOINT_DISABLE: '1' },
      stdio: 'pipe',
      timeout: 120_000,
    });

    const first = filesUnder(inProcess);
    const second = filesUnder(viaCli);
    expect([...second.keys()].sort()).toEqual([...first.keys()].sort());
    expect([...first.keys()].filter((file) => file.endsWith('cdk.tf.json')).sort()).toEqual([
      'stacks/bootstrap/cdk.tf.json',
      'stacks/dev/cdk.tf.json',
      'stacks/prod/cdk.tf.json',
    ]);
    expect([...first.keys()].filter((file) => file.endsWith('.zip'))).toHaveLength(4);
    for (const [file, bytes] of first) {
      expect({ file, identical: bytes.equals(second.get(file)!) }).toEqual({ file, identical: true });
    }
  }, 120_000);
});
