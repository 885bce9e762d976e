/**
 * How a test, the bundle smoke or a benchmark learns where a function it
 * started with the framework's own CLI listens. The framework takes a port
 * (PORT) but no host, so the caller hands it PORT=0 and preloads
 * `listen-on-loopback.cjs`, which binds the listen to 127.0.0.1 and writes
 * `listening <port>` on stderr; no port is picked beforehand, so none can be
 * taken by another process in between.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** The preload, for `node --require` or NODE_OPTIONS. */
export const LOOPBACK_PRELOAD = join(__dirname, 'listen-on-loopback.cjs');

/** The whole line: a chunk of stderr may end inside it, after only the first digits of the port. */
const LISTENING_LINE = /^listening (\d+)\n/m;

/**
 * The port `child` (started with PORT=0 and {@link LOOPBACK_PRELOAD}) listens
 * on, once it does; rejects if it exits first, or does not listen within
 * `timeoutMs`, saying which.
 */
export function listeningPort(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let stderr = '';
    const settle = (outcome: () => void) => {
      clearTimeout(timer);
      child.stderr!.off('data', onData);
      child.off('exit', onExit);
      outcome();
    };
    const onData = (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      const port = LISTENING_LINE.exec(stderr)?.[1];
      if (port !== undefined) settle(() => resolve(Number(port)));
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      settle(() => reject(new Error(`exited (${code ?? signal}) before listening`)));
    const timer = setTimeout(() => settle(() => reject(new Error(`did not listen within ${timeoutMs / 1000} s`))), timeoutMs);
    child.stderr!.on('data', onData);
    child.once('exit', onExit);
  });
}
