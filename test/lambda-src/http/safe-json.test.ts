import fc from 'fast-check';
import { JSON_SHAPE_LIMITS, jsonShapeProblem, JsonShapeScanner, parseJsonBytes, type JsonShapeLimits } from '../../../lambda-src/http/safe-json';
import { MAX_JSON_ARRAY_ELEMENTS, MAX_JSON_DEPTH, MAX_JSON_OBJECT_KEYS, MAX_JSON_STRING_BYTES } from '../../../lambda-src/rules/limits';
import { propertyRuns } from '../../support/property-runs';

const parseJsonText = (text: string, field: string) => parseJsonBytes(Buffer.from(text, 'utf8'), field);
const shapeProblem = (text: string, limits: JsonShapeLimits) => jsonShapeProblem(Buffer.from(text, 'utf8'), limits);

describe('parseJsonBytes', () => {
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

/** Depth, array elements, object keys and longest string of a parsed value, measured on the value itself as `JSON.stringify` spells it. */
function shapeOf(value: unknown): JsonShapeLimits {
  const spelled = (text: string) => Buffer.byteLength(JSON.stringify(text)) - 2;
  if (typeof value === 'string') return { depth: 0, elements: 0, keys: 0, stringBytes: spelled(value) };
  if (value === null || typeof value !== 'object') return { depth: 0, elements: 0, keys: 0, stringBytes: 0 };
  const inner = (Array.isArray(value) ? value : Object.values(value)).map(shapeOf);
  const keys = Array.isArray(value) ? [] : Object.keys(value);
  return {
    depth: 1 + Math.max(0, ...inner.map((shape) => shape.depth)),
    elements: (Array.isArray(value) ? value.length : 0) + inner.reduce((sum, shape) => sum + shape.elements, 0),
    keys: keys.length + inner.reduce((sum, shape) => sum + shape.keys, 0),
    stringBytes: Math.max(0, ...keys.map(spelled), ...inner.map((shape) => shape.stringBytes)),
  };
}

const nested = (depth: number) => `${'[{"a":'.repeat(depth / 2)}0${'}]'.repeat(depth / 2)}`;
const arrayOf = (count: number) => `[${Array.from({ length: count }, () => '0').join(',')}]`;
const objectOf = (count: number) => `{${Array.from({ length: count }, (_, index) => `"k${index}":0`).join(',')}}`;
const stringOf = (bytes: number) => `{"name":"${'\\u00e9'.repeat(Math.floor(bytes / 6))}${'x'.repeat(bytes % 6)}"}`;
/** Small limits, with `overrides`. */
const small = (overrides: Partial<JsonShapeLimits>): JsonShapeLimits => ({ depth: 2, elements: 2, keys: 2, stringBytes: Number.POSITIVE_INFINITY, ...overrides });

describe('JSON shape limits', () => {
  it('accept the largest valid payload, 500 records of three fields, names of 1024 escaped characters, inside a push envelope too', () => {
    const record = (index: number) => `{"id":"id-${index}","name":"${'\\u00e9'.repeat(1024)}","value":${index}}`;
    expect(parseJsonText(`{"data":[${Array.from({ length: 500 }, (_, index) => record(index)).join(',')}]}`, 'body').ok).toBe(true);
    const attributes = Object.fromEntries(Array.from({ length: 100 }, (_, index) => [`attribute-${index}`, 'v'.repeat(1024)]));
    expect(parseJsonText(JSON.stringify({ message: { data: 'e30=', messageId: '1', attributes }, subscription: 's' }), 'body').ok).toBe(true);
  });

  it.each([
    ['depth', nested(MAX_JSON_DEPTH), nested(MAX_JSON_DEPTH + 2), `nests arrays and objects deeper than the limit of ${MAX_JSON_DEPTH} levels`],
    ['array elements', arrayOf(MAX_JSON_ARRAY_ELEMENTS), arrayOf(MAX_JSON_ARRAY_ELEMENTS + 1), `holds more array elements than the limit of ${MAX_JSON_ARRAY_ELEMENTS}`],
    ['object keys', objectOf(MAX_JSON_OBJECT_KEYS), objectOf(MAX_JSON_OBJECT_KEYS + 1), `holds more object keys than the limit of ${MAX_JSON_OBJECT_KEYS}`],
    ['string bytes', stringOf(MAX_JSON_STRING_BYTES), stringOf(MAX_JSON_STRING_BYTES + 1), `holds a string longer than the limit of ${MAX_JSON_STRING_BYTES} bytes`],
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

  it('refuse a megabyte of nested arrays, as deep as a body can be, and a megabyte-long string', () => {
    const depth = 512 * 1024;
    expect(parseJsonBytes(Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth)}`), 'body')).toMatchObject({ ok: false, kind: 'too_complex' });
    expect(parseJsonBytes(Buffer.from(stringOf(1024 * 1024)), 'body')).toMatchObject({ ok: false, kind: 'too_complex' });
  });

  it('take strings as long as the limits passed say, e.g. the base64 data of a push envelope', () => {
    const envelope = Buffer.from(JSON.stringify({ message: { data: 'A'.repeat(MAX_JSON_STRING_BYTES * 4) } }));
    expect(parseJsonBytes(envelope, 'body')).toMatchObject({ ok: false, kind: 'too_complex' });
    expect(parseJsonBytes(envelope, 'body', { ...JSON_SHAPE_LIMITS, stringBytes: envelope.length }).ok).toBe(true);
  });

  it('take the verdict of an earlier scan of the same bytes with limits no looser, and scan again when any one of those is looser', () => {
    const bytes = Buffer.from('{"ab":[1,2,3]}');
    const limits: JsonShapeLimits = { depth: 2, elements: 2, keys: 2, stringBytes: 2 };
    const refused = { ok: false, kind: 'too_complex', errors: [{ field: 'body', message: 'holds more array elements than the limit of 2' }] };
    expect(parseJsonBytes(bytes, 'body', limits)).toEqual(refused);
    // Bytes a scan with these limits would refuse, said to have passed one: the claim is believed, so the scan is not run.
    expect(parseJsonBytes(bytes, 'body', limits, limits)).toEqual({ ok: true, value: { ab: [1, 2, 3] } });
    expect(parseJsonBytes(bytes, 'body', limits, { depth: 1, elements: 1, keys: 1, stringBytes: 1 }).ok).toBe(true);
    for (const name of ['depth', 'elements', 'keys', 'stringBytes'] as const) {
      expect(parseJsonBytes(bytes, 'body', limits, { ...limits, [name]: limits[name] + 1 })).toEqual(refused);
    }
  });

  it('count nothing inside strings: brackets, commas, colons and escaped quotes; measure keys as strings too', () => {
    const tricky = JSON.stringify({ text: `${'[{,:'.repeat(MAX_JSON_ARRAY_ELEMENTS)}\\"\u0022]`, after: [1, 2] });
    expect(shapeProblem(tricky, small({}))).toBeUndefined();
    expect(shapeProblem(tricky, small({ elements: 1 }))).toBe('holds more array elements than the limit of 1');
    expect(shapeProblem(tricky, small({ depth: 1 }))).toBe('nests arrays and objects deeper than the limit of 1 levels');
    expect(shapeProblem(tricky, small({ keys: 1 }))).toBe('holds more object keys than the limit of 1');
    expect(shapeProblem('{"a\\"b":"\\\\"}', small({ stringBytes: 4 }))).toBeUndefined();
    expect(shapeProblem('{"a\\"bc":"\\\\"}', small({ stringBytes: 4 }))).toBe('holds a string longer than the limit of 4 bytes');
  });

  it('count no element in an empty array, whatever its spacing', () => {
    expect(shapeProblem('[[], [ ], [\n\t]]', small({ elements: 3 }))).toBeUndefined();
    expect(shapeProblem('[[], [ ], [\n\t0]]', small({ elements: 3 }))).toBe('holds more array elements than the limit of 3');
  });

  it('agree with the shape of the parsed value, for any JSON and any spacing', () => {
    const limits = fc.record({ depth: fc.integer({ min: 1, max: 4 }), elements: fc.nat({ max: 12 }), keys: fc.nat({ max: 12 }), stringBytes: fc.nat({ max: 24 }) });
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5, stringUnit: 'binary' }), fc.constantFrom(undefined, 1, '\t', ' \r\n'), limits, (value, space, limit) => {
        const shape = shapeOf(value);
        const within = shape.depth <= limit.depth && shape.elements <= limit.elements && shape.keys <= limit.keys && shape.stringBytes <= limit.stringBytes;
        expect(shapeProblem(JSON.stringify(value, null, space), limit) === undefined).toBe(within);
      }),
      { numRuns: propertyRuns(2000) },
    );
  });
});

/** `bytes` cut at `cuts` (any offsets, in any order, repeats allowed: empty chunks are chunks too). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const offsets = [0, ...cuts.map((cut) => cut % (bytes.length + 1)).sort((left, right) => left - right), bytes.length];
  return offsets.slice(1).map((end, index) => bytes.subarray(offsets[index], end));
}

/** JSON of any shape and spacing, and soups of the bytes the scan reacts to (escapes and multi-byte characters included), as bytes. */
const jsonishBytes = fc
  .oneof(
    fc.tuple(fc.jsonValue({ maxDepth: 5, stringUnit: 'binary' }), fc.constantFrom(undefined, 1, '\t', ' \r\n')).map(([value, space]) => JSON.stringify(value, null, space)),
    fc.array(fc.constantFrom('[', ']', '{', '}', '"', '\\', ',', ':', ' ', '\n', '0', 'a', 'é', '😀', '\\"', '\\\\', '\\u00e9'), { maxLength: 80 }).map((parts) => parts.join('')),
  )
  .map((text) => Buffer.from(text, 'utf8'));
const smallLimits = fc.record({ depth: fc.integer({ min: 1, max: 4 }), elements: fc.nat({ max: 12 }), keys: fc.nat({ max: 12 }), stringBytes: fc.nat({ max: 24 }) });

describe('JsonShapeScanner, fed chunk by chunk as a body arrives', () => {
  it('gives, after every chunk of any split, the verdict of the bytes so far taken whole', () => {
    fc.assert(
      fc.property(jsonishBytes, smallLimits, fc.array(fc.nat(), { maxLength: 8 }), (bytes, limits, cuts) => {
        const scanner = new JsonShapeScanner(limits);
        let fed = 0;
        for (const chunk of split(bytes, cuts)) {
          fed += chunk.length;
          expect(scanner.feed(chunk)).toBe(jsonShapeProblem(bytes.subarray(0, fed), limits));
        }
        expect(scanner.problem).toBe(jsonShapeProblem(bytes, limits));
      }),
      { numRuns: propertyRuns(3000) },
    );
  });

  it('gives the whole-body verdict when every byte is a chunk of its own', () => {
    fc.assert(
      fc.property(jsonishBytes, smallLimits, (bytes, limits) => {
        const scanner = new JsonShapeScanner(limits);
        for (const byte of bytes) scanner.feed(Uint8Array.of(byte));
        expect(scanner.problem).toBe(jsonShapeProblem(bytes, limits));
      }),
      { numRuns: propertyRuns(1000) },
    );
  });

  it('carries an escape across chunks: a backslash ending one chunk escapes the quote that starts the next', () => {
    const scanner = new JsonShapeScanner(small({ elements: 1 }));
    expect(scanner.feed(Buffer.from('["a\\'))).toBeUndefined();
    expect(scanner.feed(Buffer.from('",0,0"'))).toBeUndefined();
    expect(scanner.feed(Buffer.from(',0]'))).toBe('holds more array elements than the limit of 1');
  });

  it('measures a string across chunks, and refuses it in the chunk that passes the limit', () => {
    const scanner = new JsonShapeScanner(small({ stringBytes: 6 }));
    expect(scanner.feed(Buffer.from('{"name":"\\u00'))).toBeUndefined();
    expect(scanner.feed(Buffer.from('e9'))).toBeUndefined();
    expect(scanner.feed(Buffer.from('x'))).toBe('holds a string longer than the limit of 6 bytes');
  });

  it('keeps its verdict once a limit is passed, whatever comes after', () => {
    const scanner = new JsonShapeScanner(small({ depth: 2 }));
    expect(scanner.feed(Buffer.from('[[['))).toBe('nests arrays and objects deeper than the limit of 2 levels');
    expect(scanner.feed(Buffer.from(']]]'))).toBe('nests arrays and objects deeper than the limit of 2 levels');
  });
});

describe('parseJsonBytes, the bytes', () => {
  it('decodes UTF-8 and drops a byte-order mark', () => {
    expect(parseJsonBytes(Buffer.from('\uFEFF{"name":"café"}', 'utf8'), 'body')).toEqual({ ok: true, value: { name: 'café' } });
  });

  it.each([
    ['a truncated sequence', [0x22, 0xc3, 0x22]],
    ['an encoded surrogate (CESU-8)', [0x22, 0xed, 0xa0, 0x80, 0x22]],
    ['an overlong encoding of "/"', [0x22, 0xc0, 0xaf, 0x22]],
    ['a byte that never occurs in UTF-8', [0x22, 0xff, 0x22]],
  ])('refuses bytes that are not UTF-8: %s', (_case, bytes) => {
    expect(parseJsonBytes(Uint8Array.from(bytes), 'message.data')).toEqual({
      ok: false,
      kind: 'syntax',
      errors: [{ field: 'message.data', message: 'is not valid UTF-8' }],
    });
  });

  it('reads a view into a larger buffer from its own offset', () => {
    const shared = Buffer.from('xx{"a":1}yy');
    expect(parseJsonBytes(shared.subarray(2, 9), 'body')).toEqual({ ok: true, value: { a: 1 } });
  });

  it('decodes any well-formed text as JSON.parse would', () => {
    fc.assert(
      fc.property(fc.jsonValue({ stringUnit: 'binary' }), (value) => {
        const text = JSON.stringify(value);
        fc.pre(!/"(__proto__|constructor|prototype)":/.test(text));
        expect(parseJsonBytes(Buffer.from(text, 'utf8'), 'body')).toEqual({ ok: true, value: JSON.parse(text) });
      }),
      { numRuns: propertyRuns(500) },
    );
  });
});
