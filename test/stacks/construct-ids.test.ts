/**
 * One case convention for construct ids: every construct the app builds,
 * in every stack, has a kebab-case id (the logical ids in the synthesized
 * JSON derive from them).
 */
import { CONSTRUCT_ID, nameProblem } from '../../lambda-src/rules/naming';
import { buildApp } from '../../stacks/main';
import { ALL_STACKS_ENV, freshOutdir } from '../support/synth';

describe('construct ids', () => {
  const { app } = buildApp({ outdir: freshOutdir(), env: ALL_STACKS_ENV, context: {} });
  const constructs = app.node.findAll().filter((construct) => construct !== app);

  it('cover every stack the app builds', () => {
    expect(app.node.children.map((stack) => stack.node.id)).toEqual(['dev', 'prod', 'bootstrap']);
    expect(constructs.length).toBeGreaterThan(200);
  });

  it('are kebab-case, everywhere', () => {
    const offending = constructs.filter((construct) => nameProblem(construct.node.id, CONSTRUCT_ID) !== undefined).map((construct) => construct.node.path);
    expect(offending).toEqual([]);
  });
});
