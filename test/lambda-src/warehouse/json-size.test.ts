import fc from 'fast-check';
import { jsonByteLength } from '../../../lambda-src/warehouse/json-size';
import { propertyRuns } from '../../support/property-runs';

const expected = (value: unknown) => Buffer.byteLength(JSON.stringify(value) ?? '');

const awkwardStrings = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\u0000', '\u001f', '\u007f', 'é', '€', '😀', '\ud800', '\udc00', 'a') }),
);
const dates = fc.oneof(
  fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: false }),
  fc.constantFrom(new Date('0000-01-01T00:00:00.000Z'), new Date('9999-12-31T23:59:59.999Z'), new Date(-62167219200001), new Date(253402300800000)),
);
const { value: jsonish } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    awkwardStrings,
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    dates,
    fc.array(tie('value')),
    fc.dictionary(awkwardStrings, tie('value')),
  ),
}));

describe('jsonByteLength', () => {
  it('equals the UTF-8 length of JSON.stringify for any mix of JSON values, dates, awkward strings and undefined', () => {
    fc.assert(
      fc.property(jsonish, (value) => {
        expect(jsonByteLength(value)).toBe(expected(value));
      }),
      { numRuns: propertyRuns(2000) },
    );
  });

  it('defers to JSON.stringify for values that serialize themselves or are not plain data', () => {
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    const dated = Object.assign(new Date(0), { toJSON: () => 'custom' });
    for (const value of [{ toJSON: () => ({ replaced: true }) }, new Point(1, 2), dated, [() => 1, Symbol('s')], { f: () => 1, s: Symbol('s') }, new Map([[1, 2]])]) {
      expect(jsonByteLength(value)).toBe(expected(value));
    }
  });

  it('measures a warehouse row as its JSON', () => {
    const row = { id: 'r-1', name: 'Sample Data', value: 45.67, insertId: 'req:0', ingestedAt: new Date('2026-11-27T12:00:00Z') };
    expect(jsonByteLength([row])).toBe(Buffer.byteLength(JSON.stringify([row])));
  });
});
