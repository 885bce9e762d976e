import fc from 'fast-check';
import { parseJsonBytes, parseJsonText } from '../../../lambda-src/http/safe-json';

describe('parseJsonText', () => {
  it('parses JSON', () => {
    expect(parseJsonText('{"a":[1,{"b":null}]}', 'body')).toEqual({ ok: true, value: { a: [1, { b: null }] } });
  });

  it('reports a syntax error by position, without echoing the input', () => {
    expect(parseJsonText('{"secret": tru', 'body')).toEqual({
      ok: false,
      kind: 'syntax',
      errors: [{ field: 'body', message: expect.stringMatching(/^is not valid JSON/) }],
    });
    const result = parseJsonText('{"secret": tru', 'body');
    expect(JSON.stringify(result)).not.toContain('secret');
  });

  it('names every forbidden key with its path, at any depth, in document order', () => {
    const result = parseJsonText('{"__proto__":1,"a":{"constructor":2,"b":[{"prototype":3}]},"c":[[{"__proto__":4}]]}', 'body');
    expect(result).toEqual({
      ok: false,
      kind: 'forbidden_key',
      errors: ['__proto__', 'a.constructor', 'a.b[0].prototype', 'c[0][0].__proto__'].map((field) => ({ field, message: 'forbidden key' })),
    });
  });

  it('allows the forbidden words as values and as parts of longer keys', () => {
    expect(parseJsonText('{"name":"__proto__","constructorName":"prototype"}', 'body').ok).toBe(true);
  });

  it('walks very deep nesting without overflowing the stack', () => {
    const depth = 100_000;
    expect(parseJsonText(`${'['.repeat(depth)}${']'.repeat(depth)}`, 'body').ok).toBe(true);
  });

  it('finds a forbidden key wherever it is placed in arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom('__proto__', 'constructor', 'prototype'), (value, key) => {
        const text = `{"wrapper":${JSON.stringify(value)},${JSON.stringify(key)}:0}`;
        const result = parseJsonText(text, 'body');
        expect(result.ok).toBe(false);
      }),
    );
  });

  it('never throws, whatever the text', () => {
    fc.assert(fc.property(fc.string(), (text) => void parseJsonText(text, 'body')));
  });
});

describe('parseJsonBytes', () => {
  it('decodes UTF-8 and drops a byte-order mark', () => {
    expect(parseJsonBytes(Buffer.from('\uFEFF{"name":"café"}', 'utf8'), 'body')).toEqual({ ok: true, value: { name: 'café' } });
  });

  it('refuses bytes that are not UTF-8', () => {
    expect(parseJsonBytes(Uint8Array.from([0x22, 0xc3, 0x22]), 'message.data')).toEqual({
      ok: false,
      kind: 'syntax',
      errors: [{ field: 'message.data', message: 'is not valid UTF-8' }],
    });
  });
});
