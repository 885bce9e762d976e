import { spawn } from 'node:child_process';
import { listeningPort, LOOPBACK_PRELOAD } from '../../tools/loopback-port';

/** A node process running `script` with the preload, as the framework's CLI is run; killed after the test. */
function start(script: string) {
  const child = spawn(process.execPath, ['--require', LOOPBACK_PRELOAD, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  return child;
}
const started: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  for (const child of started.splice(0)) child.kill('SIGKILL');
});

it('reports the port the system picked for a listen on port 0, bound to 127.0.0.1 only', async () => {
  // The framework's own call: a port and a callback, no host.
  const child = start("const s = require('node:http').createServer((q, r) => r.end('up')); s.listen(0, () => console.log(s.address().address))");
  let stdout = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  const port = await listeningPort(child, 10_000);
  expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('up');
  expect(stdout.trim()).toBe('127.0.0.1');
});

it('rejects, saying so, when the process exits before it listens', async () => {
  await expect(listeningPort(start('process.exit(3)'), 10_000)).rejects.toThrow('exited (3) before listening');
});

it('rejects, saying so, when the process does not listen in time', async () => {
  await expect(listeningPort(start('setTimeout(() => {}, 60_000)'), 300)).rejects.toThrow('did not listen within 0.3 s');
});

it('waits for the whole line when stderr delivers it in pieces', async () => {
  const child = start("process.stderr.write('listening 12'); setTimeout(() => process.stderr.write('345\\n'), 200); setTimeout(() => {}, 60_000)");
  await expect(listeningPort(child, 10_000)).resolves.toBe(12345);
});
