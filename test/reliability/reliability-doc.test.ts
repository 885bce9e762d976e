/**
 * docs/reliability.md quotes figures the code
 * defines (corpus size, fuzz inputs, faults per run, policy rules, the echo
 * cut-off) and shows a policy pack example: the figures must match the code,
 * and the example must run, failing synth without its suppression.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { POLICY_RULES } from '../../constructs/policy-pack';
import { MAX_ECHOED_CHARACTERS } from '../../lambda-src/http/answer';
import { CORPUS } from './corpus';
import { FAULTS_PER_RUN } from './fault-tables';
import { FULL_FUZZ_INPUTS } from '../support/property-runs';
import { ENTRY_POINTS } from './fault-drill';

const ROOT = resolve(__dirname, '../..');
const text = readFileSync(join(ROOT, 'docs', 'reliability.md'), 'utf8');
const number = (pattern: RegExp): number[] => {
  const match = pattern.exec(text);
  if (!match) throw new Error(`docs/reliability.md does not say ${pattern}`);
  return match.slice(1).map((figure) => Number(figure.replaceAll(',', '')));
};

describe('docs/reliability.md', () => {
  it('quotes the corpus and fuzz sizes of the code, and their sum', () => {
    const [total, corpus, api, subscriber, generated, oversized] = number(
      /\*\*([\d,]+)\*\*: (\d+) malformed requests written by hand \((\d+) to the API, (\d+) to the subscriber\), ([\d,]+) generated ones per entry point, and (\d+) oversized-body cases/,
    );
    expect([corpus, api, subscriber]).toEqual([
      CORPUS.length,
      CORPUS.filter((entry) => entry.target === 'api').length,
      CORPUS.filter((entry) => entry.target === 'subscriber').length,
    ]);
    expect(generated).toBe(FULL_FUZZ_INPUTS);
    expect(total).toBe(corpus! + ENTRY_POINTS.length * generated! + oversized!);
  });

  it('quotes the faults a run injects', () => {
    expect(number(/\*\*(\d+)\*\* warehouse faults/)).toEqual([FAULTS_PER_RUN]);
  });

  it('quotes the number of policy rules and names every one', () => {
    expect(number(/policy rules enforced at every synth \| \*\*(\d+)\*\*/)).toEqual([POLICY_RULES.length]);
    expect(number(/Its (\d+) rules/)).toEqual([POLICY_RULES.length]);
    for (const rule of POLICY_RULES) expect(text).toContain(`(${rule.id})`);
  });

  it('quotes the cut-off of echoed field names', () => {
    expect(number(/cut at (\d+)\s+characters/)).toEqual([MAX_ECHOED_CHARACTERS]);
  });

  describe('the GcpPolicyPack example', () => {
    const example = /```ts\n([\s\S]*?)```/.exec(text)?.[1];
    const directory = join(ROOT, '.gen', 'reliability-doc');
    let runs = 0;

    /** Runs the example as a module of its own, synthesizing into a scratch directory. */
    const run = (source: string) => {
      runs += 1;
      const file = join(directory, `example-${runs}.ts`);
      writeFileSync(
        file,
        source
          .replace("'gcp-ingest-cdktf'", JSON.stringify(join(ROOT, 'constructs')))
          .replace('new App()', `new App({ outdir: ${JSON.stringify(join(directory, `out-${runs}`))} })`),
      );
      require(file);
    };

    beforeAll(() => mkdirSync(directory, { recursive: true }));
    afterAll(() => rmSync(directory, { recursive: true, force: true }));

    it('synthesizes, its one violation suppressed with a reason', () => {
      expect(example).toContain("from 'gcp-ingest-cdktf'");
      expect(() => run(example!)).not.toThrow();
    });

    it('fails synth naming the rule once the suppression is removed', () => {
      const unsuppressed = example!.replace(/^GcpPolicyPack\.suppress\(.*\n/m, '');
      expect(unsuppressed).not.toContain('GcpPolicyPack.suppress');
      expect(() => run(unsuppressed)).toThrow(/GCP-IAM-004/);
    });
  });
});
