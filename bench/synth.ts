/**
 * Synthesis: the app command from cdktf.json (every stack, bundling
 * included) into a scratch directory, against merely loading the google
 * provider's package index, which is what a single `from
 * '@cdktf/provider-google'` import would cost. Wall time and peak resident
 * memory of each, median of the repetitions.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, scratchDirectory } from './functions';
import { atMost, median, row, type Row } from '../tools/bench/report';

const BENCHMARK = 'Synth (all stacks)';
const GNU_TIME = '/usr/bin/time';

interface Measured {
  wallMs: number;
  peakRssMB: number;
}

/** Peak RSS as the kernel tracks it: GNU time's %M (largest process of the tree), else the shell's own VmHWM, polled. */
async function measure(command: string, env: NodeJS.ProcessEnv, directory: string): Promise<Measured> {
  const rssFile = join(directory, 'max-rss-kib');
  const useTime = existsSync(GNU_TIME);
  const [file, args] = useTime ? [GNU_TIME, ['-f', '%M', '-o', rssFile, 'sh', '-c', `exec ${command}`]] : ['sh', ['-c', `exec ${command}`]];
  const started = performance.now();
  const child = spawn(file, args, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  let polledKiB = 0;
  const poll = useTime
    ? undefined
    : setInterval(() => {
        const status = existsSync(`/proc/${child.pid}/status`) ? readFileSync(`/proc/${child.pid}/status`, 'utf8') : '';
        polledKiB = Math.max(polledKiB, Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0));
      }, 10);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const wallMs = performance.now() - started;
  clearInterval(poll);
  if (code !== 0) throw new Error(`${command} exited with ${code}:\n${stderr}`);
  const peakKiB = useTime ? Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1)) : polledKiB;
  return { wallMs, peakRssMB: (peakKiB * 1024) / 1e6 };
}

export async function synthBenchmark(repetitions: number): Promise<Row[]> {
  const { app } = JSON.parse(readFileSync(join(ROOT, 'cdktf.json'), 'utf8')) as { app: string };
  const directory = scratchDirectory('synth');
  const outdir = join(directory, 'cdktf.out');
  const env = { ...process.env, CHECKPOINT_DISABLE: '1', CDKTF_OUTDIR: outdir };
  const providerIndex = `node -e "require('@cdktf/provider-google')"`;
  const synths: Measured[] = [];
  const imports: Measured[] = [];
  for (let repetition = 0; repetition < repetitions; repetition++) {
    rmSync(outdir, { recursive: true, force: true });
    synths.push(await measure(app, env, directory));
    imports.push(await measure(providerIndex, env, directory));
  }
  if (!existsSync(join(outdir, 'manifest.json'))) throw new Error(`${app} wrote no ${outdir}/manifest.json`);
  const providerBaseline = (value: number) => ({ label: 'provider package index', value });
  const synthWall = median(synths.map((m) => m.wallMs));
  const synthRss = median(synths.map((m) => m.peakRssMB));
  return [
    row(BENCHMARK, { metric: `wall time of \`${app}\``, value: synthWall, unit: 'ms', baseline: providerBaseline(median(imports.map((m) => m.wallMs))), target: atMost(3000), targetOn: 'value' }),
    row(BENCHMARK, { metric: 'peak RSS', value: synthRss, unit: 'MB', baseline: providerBaseline(median(imports.map((m) => m.peakRssMB))), target: atMost(300), targetOn: 'value' }),
  ];
}
