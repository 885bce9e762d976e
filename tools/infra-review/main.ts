/**
 * `node --import tsx tools/infra-review/main.ts <base cdktf.out> <head cdktf.out> [title]`
 * prints the Markdown summary of what the head commit changes in the
 * synthesized infrastructure (see `diff.ts`, `summary.ts`). The pull-request
 * workflow appends it to the job's step summary; it needs no cloud access.
 */
import { diffStacks, readStacks } from './diff';
import { renderSummary } from './summary';

const [base, head, title = 'Infrastructure changes'] = process.argv.slice(2);
if (base === undefined || head === undefined) {
  console.error('usage: tools/infra-review/main.ts <base cdktf.out> <head cdktf.out> [title]');
  process.exit(2);
}
process.stdout.write(renderSummary(diffStacks(readStacks(base), readStacks(head)), title));
