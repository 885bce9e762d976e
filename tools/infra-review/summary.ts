/**
 * The Markdown a pull request's job summary shows: per stack, the resources
 * added, removed and changed, and for each changed one its changed
 * attributes as `path: before → after`, one line each.
 */
import type { AttributeChange, ResourceChange, StackDiff } from './diff';
import { isEmbeddedJson } from './embedded-json';

/** Longest value shown in full; longer ones end in `…`. */
const VALUE_LIMIT = 160;
/** Attribute lines shown per resource before the rest are counted. */
const ATTRIBUTE_LIMIT = 40;

const MARKS: Record<ResourceChange['kind'], string> = { added: '+', removed: '−', changed: '~' };

function html(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '&#124;');
}

function code(text: string): string {
  return `<code>${html(text)}</code>`;
}

function shown(value: unknown): string {
  const text = JSON.stringify(value, (_, inner: unknown) => (isEmbeddedJson(inner) ? inner.embeddedJson : inner));
  return code(text.length > VALUE_LIMIT ? `${text.slice(0, VALUE_LIMIT - 1)}…` : text);
}

function attributeLine(change: AttributeChange): string {
  if (!('before' in change)) return `  - ${code(change.path)} added: ${shown(change.after)}`;
  if (!('after' in change)) return `  - ${code(change.path)} removed (was ${shown(change.before)})`;
  return `  - ${code(change.path)}: ${shown(change.before)} → ${shown(change.after)}`;
}

function counts(changes: readonly ResourceChange[]): string {
  const of = (kind: ResourceChange['kind']) => changes.filter((change) => change.kind === kind).length;
  return `${of('added')} added, ${of('changed')} changed, ${of('removed')} removed`;
}

function stackSection(diff: StackDiff): string[] {
  if (!diff.inBase) return [`#### \`${diff.stack}\`: new stack, ${diff.changes.length} resources`];
  if (!diff.inHead) return [`#### \`${diff.stack}\`: removed stack, ${diff.changes.length} resources`];
  if (diff.changes.length === 0) return [`#### \`${diff.stack}\`: no changes`];
  const lines = [`#### \`${diff.stack}\`: ${counts(diff.changes)}`, ''];
  for (const change of diff.changes) {
    lines.push(`- ${MARKS[change.kind]} ${code(change.address)}${change.kind === 'changed' ? '' : ` ${change.kind}`}`);
    lines.push(...change.attributes.slice(0, ATTRIBUTE_LIMIT).map(attributeLine));
    if (change.attributes.length > ATTRIBUTE_LIMIT) lines.push(`  - … and ${change.attributes.length - ATTRIBUTE_LIMIT} more attributes`);
  }
  return lines;
}

/** The job summary for `diffs`; `title` names what was compared. */
export function renderSummary(diffs: readonly StackDiff[], title: string): string {
  const lines = [`### ${title}`, ''];
  if (diffs.length === 0) lines.push('Neither side synthesized a stack.');
  for (const diff of diffs) lines.push(...stackSection(diff), '');
  return `${lines.join('\n').trimEnd()}\n`;
}
