import { nameProblem, PROJECT_ID_OR_NUMBER, SECRET_ID, SECRET_VERSION, type NameRule } from '../../../lambda-src/rules/naming';

describe.each<[string, NameRule, readonly string[], readonly unknown[]]>([
  ['a project id or number', PROJECT_ID_OR_NUMBER, ['my-project', 'example.com:my-project', '123456789012'], ['My Project', 'proj', '0123', '-1', '', 42]],
  ['a secret id', SECRET_ID, ['token', 'DB_password-2', 'x'.repeat(255)], ['', 'x'.repeat(256), 'projects/p/secrets/token', 'a.b', 'é']],
  ['a secret version', SECRET_VERSION, ['latest', '1', '42'], ['0', '03', 'v3', 'LATEST', '', '1.5']],
])('%s', (_name, rule, valid, invalid) => {
  it.each(valid)('accepts %j', (value) => {
    expect(nameProblem(value, rule)).toBeUndefined();
  });
  it.each(invalid)('refuses %j, saying the rule and the value', (value) => {
    expect(nameProblem(value, rule)).toBe(`${rule.rule}, got ${JSON.stringify(value)}`);
  });
});
