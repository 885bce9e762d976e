import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { attributeChanges, diffStacks, readStacks } from '../../tools/infra-review/diff';
import { renderSummary } from '../../tools/infra-review/summary';

const fixtures = join(__dirname, '..', 'fixtures', 'infra-review');
const ROOT = join(__dirname, '..', '..');
const DASHBOARD = 'google_monitoring_dashboard.monitoring_dashboard_1F2E3D4C';

describe('infra review of a pair of outputs that differ by one dashboard widget', () => {
  const diffs = diffStacks(readStacks(join(fixtures, 'base')), readStacks(join(fixtures, 'head')));

  it('finds the one changed resource and the widget fields inside its dashboard JSON', () => {
    expect(diffs).toEqual([
      {
        stack: 'dev',
        inBase: true,
        inHead: true,
        changes: [
          {
            address: DASHBOARD,
            kind: 'changed',
            attributes: [
              { path: 'dashboard_json › mosaicLayout.tiles[1].widget.title', before: 'Ingest latency p99', after: 'Ingest latency p99 (successful writes)' },
              { path: 'dashboard_json › mosaicLayout.tiles[1].widget.xyChart.thresholds[0].value', before: 200, after: 250 },
            ],
          },
        ],
      },
    ]);
  });

  it('summarizes it in a few readable lines, as the command line prints it', () => {
    const summary = renderSummary(diffs, 'Infrastructure changes');
    expect(summary.split('\n').filter(Boolean)).toHaveLength(5);
    expect(summary).toContain('#### `dev`: 0 added, 1 changed, 0 removed');
    expect(summary).toContain(
      '  - <code>dashboard_json › mosaicLayout.tiles[1].widget.xyChart.thresholds[0].value</code>: <code>200</code> → <code>250</code>',
    );
    const printed = execFileSync(process.execPath, ['--import', 'tsx', 'tools/infra-review/main.ts', join(fixtures, 'base'), join(fixtures, 'head')], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(printed).toBe(summary);
  });
});

describe('infra review diff', () => {
  it('reports added and removed resources and data sources, and stacks on one side only, leaving cdktf metadata out', () => {
    const base = {
      dev: { resource: { google_pubsub_topic: { old: { name: 'a' }, kept: { name: 'k', '//': { metadata: { path: 'dev/a' } } } } } },
      gone: { resource: { google_storage_bucket: { b: { name: 'b' } } } },
    };
    const head = {
      dev: { resource: { google_pubsub_topic: { kept: { name: 'k', '//': { metadata: { path: 'dev/moved' } } } } }, data: { google_project: { project: {} } } },
      fresh: { resource: { google_storage_bucket: { c: { name: 'c' } } } },
    };
    const diffs = diffStacks(base, head);
    expect(diffs.map(({ stack, inBase, inHead }) => [stack, inBase, inHead])).toEqual([
      ['dev', true, true],
      ['fresh', false, true],
      ['gone', true, false],
    ]);
    expect(diffs[0]!.changes).toEqual([
      { address: 'data.google_project.project', kind: 'added', attributes: [] },
      { address: 'google_pubsub_topic.old', kind: 'removed', attributes: [] },
    ]);
    const summary = renderSummary(diffs, 'Infrastructure changes');
    expect(summary).toContain('#### `fresh`: new stack, 1 resources');
    expect(summary).toContain('#### `gone`: removed stack, 1 resources');
    expect(summary).toContain('- − <code>google_pubsub_topic.old</code> removed');
  });

  it('aligns arrays on their unchanged elements, so one inserted widget is one addition', () => {
    const tiles = (titles: string[]) => ({ dashboard_json: JSON.stringify({ tiles: titles.map((title) => ({ widget: { title } })) }) });
    expect(attributeChanges(tiles(['a', 'b', 'c']), tiles(['a', 'new', 'b', 'c']))).toEqual([
      { path: 'dashboard_json › tiles[1]', after: { widget: { title: 'new' } } },
    ]);
    expect(attributeChanges(tiles(['a', 'b', 'c']), tiles(['a', 'c']))).toEqual([{ path: 'dashboard_json › tiles[1]', before: { widget: { title: 'b' } } }]);
  });

  it('compares IAM policy JSON by field, and names keys added or removed', () => {
    const policy = (members: string[], etag?: string) => ({ policy_data: JSON.stringify({ bindings: [{ role: 'roles/run.invoker', members }], ...(etag ? { etag } : {}) }) });
    expect(attributeChanges(policy(['user:a@acme-data.io']), policy(['user:b@acme-data.io'], 'x'))).toEqual([
      { path: 'policy_data › bindings[0].members[0]', before: 'user:a@acme-data.io', after: 'user:b@acme-data.io' },
      { path: 'policy_data › etag', after: 'x' },
    ]);
  });

  it('shows a plain attribute change with its values, and cuts long values', () => {
    const summary = renderSummary(
      [{ stack: 'dev', inBase: true, inHead: true, changes: [{ address: 'google_x.y', kind: 'changed', attributes: [{ path: 'description', before: 'a', after: 'b'.repeat(400) }] }] }],
      'T',
    );
    expect(summary).toContain(`  - <code>description</code>: <code>"a"</code> → <code>"${'b'.repeat(158)}…</code>`);
  });
});
