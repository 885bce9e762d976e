/**
 * What changed between two synthesized cdktf outputs, per stack: resources
 * (and data sources) added, removed or changed, and for a changed one the
 * attributes that changed, with embedded JSON (dashboards, policies,
 * schemas) compared field by field. Arrays are aligned on their unchanged
 * elements first, so one widget inserted into a dashboard is one addition,
 * not every later widget shifted.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expandEmbeddedJson, isEmbeddedJson } from './embedded-json';

/** One changed leaf: its path (`dashboard_json › mosaicLayout.tiles[2].widget.title`) and its values. */
export interface AttributeChange {
  readonly path: string;
  /** Absent when the attribute was added. */
  readonly before?: unknown;
  /** Absent when the attribute was removed. */
  readonly after?: unknown;
}

export interface ResourceChange {
  /** `google_monitoring_dashboard.monitoring_dashboard_1A2B` or `data.google_project.project`. */
  readonly address: string;
  readonly kind: 'added' | 'removed' | 'changed';
  /** For `changed`: what changed. */
  readonly attributes: readonly AttributeChange[];
}

export interface StackDiff {
  readonly stack: string;
  /** Whether the stack exists on each side. */
  readonly inBase: boolean;
  readonly inHead: boolean;
  readonly changes: readonly ResourceChange[];
}

type Json = unknown;
type Blocks = Record<string, Record<string, Json>>;
interface StackJson {
  readonly resource?: Blocks;
  readonly data?: Blocks;
}

/** The synthesized stacks under a cdktf output directory (`<outdir>/stacks/<name>/cdk.tf.json`), by name. */
export function readStacks(outdir: string): Record<string, StackJson> {
  const stacksDirectory = join(outdir, 'stacks');
  if (!existsSync(stacksDirectory)) return {};
  return Object.fromEntries(
    readdirSync(stacksDirectory)
      .filter((name) => existsSync(join(stacksDirectory, name, 'cdk.tf.json')))
      .sort()
      .map((name) => [name, JSON.parse(readFileSync(join(stacksDirectory, name, 'cdk.tf.json'), 'utf8')) as StackJson]),
  );
}

/** Every resource and data source of a stack by address, its cdktf metadata (`//`, construct paths) left out. */
function addressed(stack: StackJson | undefined): Map<string, Json> {
  const result = new Map<string, Json>();
  for (const [prefix, blocks] of [['', stack?.resource], ['data.', stack?.data]] as const) {
    for (const [type, byName] of Object.entries(blocks ?? {})) {
      for (const [name, config] of Object.entries(byName)) {
        const { '//': _metadata, ...rest } = config as Record<string, Json>;
        result.set(`${prefix}${type}.${name}`, expandEmbeddedJson(rest));
      }
    }
  }
  return result;
}

const same = (a: Json, b: Json) => JSON.stringify(a) === JSON.stringify(b);

/** A step of an attribute path: a key, an array index, or the step into an attribute's embedded JSON. */
type Step = string | number | typeof INTO_JSON;
const INTO_JSON = Symbol('into embedded JSON');

/** `dashboard_json › mosaicLayout.tiles[2].widget.title`: dots between keys, `›` where JSON text was parsed. */
function formatPath(path: readonly Step[]): string {
  let text = '';
  for (const step of path) {
    if (step === INTO_JSON) text += ' ›';
    else if (typeof step === 'number') text += `[${step}]`;
    else {
      const key = /^[A-Za-z_][\w-]*$/.test(step) ? step : JSON.stringify(step);
      text += text === '' ? key : text.endsWith(' ›') ? ` ${key}` : `.${key}`;
    }
  }
  return text;
}

/** Pairs of indexes of `before` and `after` whose elements are equal, in order (a longest common subsequence). */
function commonElements(before: readonly Json[], after: readonly Json[]): [number, number][] {
  const a = before.map((item) => JSON.stringify(item));
  const b = after.map((item) => JSON.stringify(item));
  const lengths = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lengths[i]![j] = a[i] === b[j] ? lengths[i + 1]![j + 1]! + 1 : Math.max(lengths[i + 1]![j]!, lengths[i]![j + 1]!);
    }
  }
  const pairs: [number, number][] = [];
  for (let i = 0, j = 0; i < a.length && j < b.length; ) {
    if (a[i] === b[j]) pairs.push([i++, j++]);
    else if (lengths[i + 1]![j]! >= lengths[i]![j + 1]!) i++;
    else j++;
  }
  return pairs;
}

function isRecord(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !isEmbeddedJson(value);
}

function compare(path: readonly Step[], before: Json, after: Json, changes: AttributeChange[]): void {
  if (same(before, after)) return;
  if (isEmbeddedJson(before) && isEmbeddedJson(after)) {
    compare([...path, INTO_JSON], before.embeddedJson, after.embeddedJson, changes);
  } else if (Array.isArray(before) && Array.isArray(after)) {
    const anchors = [...commonElements(before, after), [before.length, after.length] as const];
    let i = 0;
    let j = 0;
    for (const [nextI, nextJ] of anchors) {
      // Between two unchanged elements: as many as both sides hold changed in place, the rest were removed or added.
      const paired = Math.min(nextI - i, nextJ - j);
      for (let k = 0; k < paired; k++) compare([...path, j + k], before[i + k], after[j + k], changes);
      for (let k = i + paired; k < nextI; k++) changes.push({ path: formatPath([...path, k]), before: before[k] });
      for (let k = j + paired; k < nextJ; k++) changes.push({ path: formatPath([...path, k]), after: after[k] });
      i = nextI + 1;
      j = nextJ + 1;
    }
  } else if (isRecord(before) && isRecord(after)) {
    for (const key of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
      if (!(key in after)) changes.push({ path: formatPath([...path, key]), before: before[key] });
      else if (!(key in before)) changes.push({ path: formatPath([...path, key]), after: after[key] });
      else compare([...path, key], before[key], after[key], changes);
    }
  } else {
    changes.push({ path: formatPath(path), before, after });
  }
}

/** The changed attributes between two versions of one resource's config. */
export function attributeChanges(before: Json, after: Json): AttributeChange[] {
  const changes: AttributeChange[] = [];
  compare([], expandEmbeddedJson(before), expandEmbeddedJson(after), changes);
  return changes;
}

/** What changed in each stack between the base and the head output. */
export function diffStacks(base: Record<string, StackJson>, head: Record<string, StackJson>): StackDiff[] {
  const names = [...new Set([...Object.keys(base), ...Object.keys(head)])].sort();
  return names.map((stack) => {
    const before = addressed(base[stack]);
    const after = addressed(head[stack]);
    const changes: ResourceChange[] = [];
    for (const address of [...new Set([...before.keys(), ...after.keys()])].sort()) {
      if (!after.has(address)) changes.push({ address, kind: 'removed', attributes: [] });
      else if (!before.has(address)) changes.push({ address, kind: 'added', attributes: [] });
      else {
        const attributes: AttributeChange[] = [];
        compare([], before.get(address), after.get(address), attributes);
        if (attributes.length > 0) changes.push({ address, kind: 'changed', attributes });
      }
    }
    return { stack, inBase: stack in base, inHead: stack in head, changes };
  });
}
