// `npm test`: the type check and jest run side by side, so the run takes as long as jest alone (tsc is done long before
// it). Either failing fails the run. Jest's output streams as it comes; the type check's is held and printed after it,
// under its own heading, so neither interleaves with the other. Arguments go to jest: `npm test -- test/stacks`.
const { spawn } = require('node:child_process');

/** Runs a command to completion; resolves to its exit code (1 if a signal ended it) and, unless inherited, its output. */
function run(command, args, options) {
  return new Promise((resolve) => {
    const child = spawn(command, args, options);
    const output = [];
    child.stdout?.on('data', (chunk) => output.push(chunk));
    child.stderr?.on('data', (chunk) => output.push(chunk));
    child.on('error', (error) => resolve({ code: 1, output: `${error.message}\n` }));
    child.on('close', (code) => resolve({ code: code ?? 1, output: Buffer.concat(output).toString('utf8') }));
  });
}

async function main() {
  // npm sets npm_execpath when it runs this script; the type check's command is the `typecheck` script, defined once.
  const npm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['npm'];
  const typecheck = run(npm[0], [...npm.slice(1), 'run', '--silent', 'typecheck'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const jest = run(process.execPath, [require.resolve('jest/bin/jest'), ...process.argv.slice(2)], {
    stdio: 'inherit',
    // The BigQuery client's HTTP layer loads node-fetch with a dynamic import(), which jest refuses without it.
    env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules`.trim() },
  });
  const [tests, types] = await Promise.all([jest, typecheck]);
  if (types.code !== 0 || types.output.trim() !== '') {
    process.stdout.write(`\nnpm run typecheck ${types.code === 0 ? 'passed' : `FAILED (exit ${types.code})`}:\n${types.output}`);
  }
  process.exitCode = tests.code !== 0 ? tests.code : types.code;
}

void main();
