import fc from 'fast-check';
import { jsonShapeProblem, parseJsonBytes, parseJsonText, type JsonShapeLimits } from '../../../lambda-src/http/safe-json';
import { MAX_JSON_ARRAY_ELEMENTS, MAX_JSON_DEPTH, MAX_JSON_OBJECT_KEYS } from '../../../lambda-src/rules/limits';
import { propertyRuns } from '../../support/property-runs';

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

/** Depth, array elements and object keys of a parsed value, counted on the value itself. */
function shapeOf(value: unknown): JsonShapeLimits {
  if (value === null || typeof value !== 'object') return { depth: 0, elements: 0, keys: 0 };
  const children = Array.isArray(value) ? value : Object.values(value);
  const inner = children.map(shapeOf);
  return {
    depth: 1 + Math.max(0, ...inner.map((shape) => shape.depth)),
    elements: (Array.isArray(value) ? value.length : 0) + inner.reduce((sum, shape) => sum + shape.elements, 0),
    keys: (Array.isArray(value) ? 0 : children.length) + inner.reduce((sum, shape) => sum + shape.keys, 0),
  };
}

const nested = (depth: number) => `${'[{"a":'.repeat(depth / 2)}0${'}]'.repeat(depth / 2)}`;
const arrayOf = (count: number) => `[${Array.from({ length: count }, () => '0').join(',')}]`;
const objectOf = (count: number) => `{${Array.from({ length: count }, (_, index) => `"k${index}":0`).join(',')}}`;

describe('JSON shape limits', () => {
  it('accept the largest valid payload, 500 records of three fields, inside a push envelope too', () => {
    const records = Array.from({ length: 500 }, (_, index) => ({ id: `id-${index}`, name: 'n'.repeat(1024), value: index }));
    expect(parseJsonText(JSON.stringify({ data: records }), 'body').ok).toBe(true);
    const attributes = Object.fromEntries(Array.from({ length: 100 }, (_, index) => [`attribute-${index}`, 'v']));
    expect(parseJsonText(JSON.stringify({ message: { data: 'e30=', messageId: '1', attributes }, subscription: 's' }), 'body').ok).toBe(true);
  });

  it.each([
    ['depth', nested(MAX_JSON_DEPTH), nested(MAX_JSON_DEPTH + 2), `nests arrays and objects deeper than the limit of ${MAX_JSON_DEPTH} levels`],
    ['array elements', arrayOf(MAX_JSON_ARRAY_ELEMENTS), arrayOf(MAX_JSON_ARRAY_ELEMENTS + 1), `holds more array elements than the limit of ${MAX_JSON_ARRAY_ELEMENTS}`],
    ['object keys', objectOf(MAX_JSON_OBJECT_KEYS), objectOf(MAX_JSON_OBJECT_KEYS + 1), `holds more object keys than the limit of ${MAX_JSON_OBJECT_KEYS}`],
  ])('refuse JSON past the %s limit with a 400-worthy error naming it, and take JSON at the limit', (_limit, atLimit, pastLimit, message) => {
    expect(parseJsonText(atLimit, 'body').ok).toBe(true);
    expect(parseJsonText(pastLimit, 'message.data')).toEqual({ ok: false, kind: 'too_complex', errors: [{ field: 'message.data', message }] });
  });

  it('count elements and keys over the whole body, not per container', () => {
    // Two inner arrays and their elements: exactly the limit, then one more.
    const inner = (MAX_JSON_ARRAY_ELEMENTS - 2) / 2;
    expect(parseJsonText(`[${arrayOf(inner)},${arrayOf(inner)}]`, 'body').ok).toBe(true);
    expect(parseJsonText(`[${arrayOf(inner)},${arrayOf(inner + 1)}]`, 'body')).toMatchObject({ kind: 'too_complex' });
    const keys = MAX_JSON_OBJECT_KEYS / 2;
    expect(parseJsonText(`[${objectOf(keys)},${objectOf(keys)}]`, 'body').ok).toBe(true);
    expect(parseJsonText(`[${objectOf(keys)},${objectOf(keys + 1)}]`, 'body')).toMatchObject({ kind: 'too_complex' });
  });

  it('refuse a megabyte of nested arrays, as deep as a body can be', () => {
    const depth = 512 * 1024;
    expect(parseJsonBytes(Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth)}`), 'body')).toMatchObject({ ok: false, kind: 'too_complex' });
  });

  it('count nothing inside strings: brackets, commas, colons and escaped quotes', () => {
    const tricky = JSON.stringify({ text: `${'[{,:'.repeat(MAX_JSON_ARRAY_ELEMENTS)}\\"\u0022]`, after: [1, 2] });
    expect(jsonShapeProblem(tricky, { depth: 2, elements: 2, keys: 2 })).toBeUndefined();
    expect(jsonShapeProblem(tricky, { depth: 2, elements: 1, keys: 2 })).toBe('holds more array elements than the limit of 1');
    expect(jsonShapeProblem(tricky, { depth: 1, elements: 2, keys: 2 })).toBe('nests arrays and objects deeper than the limit of 1 levels');
    expect(jsonShapeProblem(tricky, { depth: 2, elements: 2, keys: 1 })).toBe('holds more object keys than the limit of 1');
  });

  it('count no element in an empty array, whatever its spacing', () => {
    expect(jsonShapeProblem('[[], [ ], [\n\t]]', { depth: 2, elements: 3, keys: 0 })).toBeUndefined();
    expect(jsonShapeProblem('[[], [ ], [\n\t0]]', { depth: 2, elements: 3, keys: 0 })).toBe('holds more array elements than the limit of 3');
  });

  it('agree with the shape of the parsed value, for any JSON and any spacing', () => {
    const limits = fc.record({ depth: fc.integer({ min: 1, max: 4 }), elements: fc.nat({ max: 12 }), keys: fc.nat({ max: 12 }) });
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), fc.constantFrom(undefined, 1, '\t', ' \r\n'), limits, (value, space, limit) => {
        const shape = shapeOf(value);
        const within = shape.depth <= limit.depth && shape.elements <= limit.elements && shape.keys <= limit.keys;
        expect(jsonShapeProblem(JSON.stringify(value, null, space), limit) === undefined).toBe(within);
      }),
      { numRuns: propertyRuns(2000) },
    );
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
