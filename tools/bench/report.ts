/** Result rows, their targets, the machine they ran on, and the printed table. */
import { cpus, totalmem } from 'node:os';

export interface Target {
  /** How the target reads, e.g. `≥ 0.75`. */
  text: string;
  met(value: number): boolean;
}

export const atLeast = (limit: number): Target => ({ text: `≥ ${limit}`, met: (value) => value >= limit });
export const atMost = (limit: number): Target => ({ text: `≤ ${limit}`, met: (value) => value <= limit });
export const below = (limit: number): Target => ({ text: `< ${limit}`, met: (value) => value < limit });
export const exactly = (expected: number): Target => ({ text: `= ${expected}`, met: (value) => value === expected });

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export interface Row {
  benchmark: string;
  metric: string;
  /** The candidate's figure. */
  value: number;
  unit: string;
  /** The same figure for the baseline measured in the same run, when the row is a comparison. */
  baseline?: { label: string; value: number };
  /** value / baseline.value. */
  ratio?: number;
  /** What the target is checked against, and the target. */
  target?: string;
  pass?: boolean;
}

export interface RowSpec {
  metric: string;
  value: number;
  unit: string;
  baseline?: { label: string; value: number };
  target?: Target;
  /** @default 'ratio' when there is a baseline, else 'value' */
  targetOn?: 'ratio' | 'value';
}

export function row(benchmark: string, spec: RowSpec): Row {
  const ratio = spec.baseline === undefined ? undefined : spec.value / spec.baseline.value;
  const onRatio = ratio !== undefined && spec.targetOn !== 'value';
  const unitText = spec.unit === '' ? '' : ` ${spec.unit}`;
  return {
    benchmark,
    metric: spec.metric,
    value: spec.value,
    unit: spec.unit,
    baseline: spec.baseline,
    ratio,
    target: spec.target === undefined ? undefined : onRatio ? `${spec.target.text}×` : `${spec.target.text}${unitText}`,
    pass: spec.target?.met(onRatio ? ratio : spec.value),
  };
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
}

export function machine(): Machine {
  const cores = cpus();
  return {
    cpu: cores[0]?.model.trim() ?? 'unknown',
    cores: cores.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return String(value);
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return value.toFixed(digits);
}

const formatValue = (value: number, unit: string) => (unit === '' ? formatNumber(value) : `${formatNumber(value)} ${unit}`);

function cells(result: Row): string[] {
  return [
    result.benchmark,
    result.metric,
    formatValue(result.value, result.unit),
    result.baseline === undefined ? '' : `${formatValue(result.baseline.value, result.unit)} (${result.baseline.label})`,
    result.ratio === undefined ? '' : `${result.ratio.toFixed(2)}×`,
    result.target ?? '',
    result.pass === undefined ? '' : result.pass ? 'pass' : 'FAIL',
  ];
}

const HEADERS = ['benchmark', 'metric', 'value', 'baseline (same run)', 'ratio', 'target', 'result'];

/** A Markdown table (what docs/performance.md shows). */
export function markdownTable(rows: readonly Row[]): string {
  const lines = [`| ${HEADERS.join(' | ')} |`, `| ${HEADERS.map(() => '---').join(' | ')} |`];
  for (const result of rows) lines.push(`| ${cells(result).map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`);
  return lines.join('\n');
}
