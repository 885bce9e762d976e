/**
 * fast-check generators of requests to both entry points: mostly
 * valid-shaped bodies with something wrong in them (wrong types, missing and
 * unknown fields, empty and oversized strings, numbers JSON cannot carry,
 * prototype keys, batches at and past their limits), plus text mutations of
 * valid bodies, arbitrary JSON, arbitrary text and bytes, deep nesting, and
 * random methods, media types, encodings, idempotency keys and push
 * envelopes whose every field (ids, attributes, publish time, data,
 * subscription, delivery attempt) may hold any Unicode, lone UTF-16
 * surrogates included. Plenty of inputs stay valid, so the fuzz also checks
 * that what is valid is stored, exactly once and as sent.
 */
import fc from 'fast-check';
import { ID_MAX_LENGTH, NAME_MAX_LENGTH } from '../../lambda-src/rules/limits';
import { MAX_BATCH, type FuzzRequest } from './oracle';

const utf8 = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));
const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

const shortText = fc.string({ unit: 'grapheme', maxLength: 24 });

/** An unpaired UTF-16 surrogate: a JS string can hold one and JSON can spell it (`\ud800`), but UTF-8 cannot encode it. */
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code));

/** Any text: any code point, and now and then a lone surrogate. */
const anyText = (maxLength: number) =>
  fc.string({
    unit: fc.oneof({ weight: 5, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) }, { weight: 1, arbitrary: loneSurrogate }),
    maxLength,
  });

const validRecord = fc.record({
  id: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 24 }),
  name: shortText,
  value: fc.double({ noNaN: true, noDefaultInfinity: true }),
});

/** Anything a record field might hold, right or wrong. */
const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: shortText },
  { weight: 3, arbitrary: fc.double() },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.constantFrom('', 'i'.repeat(ID_MAX_LENGTH), 'i'.repeat(ID_MAX_LENGTH + 1), 'n'.repeat(NAME_MAX_LENGTH + 1)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 16 }) },
  { weight: 1, arbitrary: anyText(16) },
);

/** A record with any of its fields missing or wrong, sometimes with unknown ones. */
const recordish = fc
  .tuple(
    fc.record({ id: fieldValue, name: fieldValue, value: fieldValue }, { requiredKeys: [] }),
    fc.oneof({ weight: 4, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }) }),
  )
  .map(([fields, extra]) => ({ ...extra, ...fields }));

const anyRecord = fc.oneof(validRecord, recordish);

const payloadValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ data: validRecord }) },
  { weight: 4, arbitrary: fc.record({ data: fc.array(validRecord, { minLength: 1, maxLength: 5 }) }) },
  { weight: 3, arbitrary: fc.record({ data: recordish }) },
  { weight: 2, arbitrary: fc.record({ data: fc.array(anyRecord, { maxLength: 5 }) }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.record({ data: anyRecord }, { requiredKeys: [] }), fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }))
      .map(([payload, extra]) => ({ ...extra, ...payload })),
  },
  { weight: 1, arbitrary: fc.record({ data: fc.jsonValue({ maxDepth: 2 }) }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

/** Number spellings JSON has and has not: `1e400` parses to Infinity, `NaN`/hex are not JSON. */
const NUMBER_LITERALS = ['1e400', '-1e400', '1e-400', 'NaN', 'Infinity', '-Infinity', '0x1F', '+1', '012', '.5', '1.', '-0', '1E5', '9007199254740993', 'undefined', 'null', 'true', '"1"', '[]', '{}'];
const literalInjected = fc
  .tuple(fc.constantFrom(...NUMBER_LITERALS), fc.constantFrom('id', 'name', 'value'))
  .map(([literal, field]) => {
    const fields: Record<string, string> = { id: '"a"', name: '"b"', value: '1' };
    fields[field] = literal;
    return `{"data":{"id":${fields.id},"name":${fields.name},"value":${fields.value}}}`;
  });

const FORBIDDEN = ['__proto__', 'constructor', 'prototype'] as const;
const VALID_RECORD_TEXT = '{"id":"a","name":"b","value":1}';
const prototypeAttack = fc.tuple(fc.constantFrom(...FORBIDDEN), fc.nat({ max: 4 })).map(([key, where]) => {
  const poison = `"${key}":{"polluted":true,"prototype":{"polluted":true}}`;
  switch (where) {
    case 0:
      return `{${poison},"data":${VALID_RECORD_TEXT}}`;
    case 1:
      return `{"data":{"id":"a","name":"b","value":1,${poison}}}`;
    case 2:
      return `{"data":[${VALID_RECORD_TEXT},{${poison}}]}`;
    case 3:
      return `{"data":{"id":{"x":{${poison}}},"name":"b","value":1}}`;
    default:
      return `{${poison}}`;
  }
});

const deepNesting = fc.tuple(fc.integer({ min: 1_000, max: 5_000 }), fc.nat({ max: 2 })).map(([depth, kind]) => {
  if (kind === 0) return '['.repeat(depth) + ']'.repeat(depth);
  if (kind === 1) return '{"a":'.repeat(depth) + '0' + '}'.repeat(depth);
  return `{"data":${'['.repeat(depth)}${VALID_RECORD_TEXT}${']'.repeat(depth)}}`;
});

const batchAtLimits = fc.constantFrom(0, 1, MAX_BATCH, MAX_BATCH + 1).map((size) =>
  JSON.stringify({ data: Array.from({ length: size }, (_, index) => ({ id: `edge-${index}`, name: 'edge', value: index })) }),
);

const MUTATION_CHARACTERS = ['{', '}', '[', ']', ',', ':', '"', '\\', '0', 'e', '-', '.', ' ', '\u0000', '\ufeff', 'x'];

/** One textual edit of `text`: cut, drop, insert, or append garbage. */
function mutated(text: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc
    .tuple(text, fc.nat(), fc.nat({ max: 3 }), fc.constantFrom(...MUTATION_CHARACTERS), fc.string({ maxLength: 8 }))
    .map(([source, position, kind, character, garbage]) => {
      const at = source.length === 0 ? 0 : position % source.length;
      switch (kind) {
        case 0:
          return source.slice(0, at);
        case 1:
          return source.slice(0, at) + source.slice(at + 1);
        case 2:
          return source.slice(0, at) + character + source.slice(at);
        default:
          return source + garbage;
      }
    });
}

const payloadJson = payloadValue.map((value) => JSON.stringify(value));

/** The bytes of a `POST /` body, or of a push message's decoded data. */
const payloadBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 24, arbitrary: payloadJson.map(utf8) },
  { weight: 6, arbitrary: mutated(payloadJson).map(utf8) },
  { weight: 1, arbitrary: literalInjected.map(utf8) },
  { weight: 1, arbitrary: prototypeAttack.map(utf8) },
  { weight: 1, arbitrary: fc.json({ maxDepth: 3 }).map(utf8) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }).map(utf8) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  { weight: 1, arbitrary: deepNesting.map(utf8) },
  { weight: 1, arbitrary: batchAtLimits.map(utf8) },
);

/** Header values Node's client can send (visible ASCII, space and tab). */
const headerValue = fc.string({ unit: 'binary-ascii', maxLength: 40 }).filter((value) => /^[\t\x20-\x7e]*$/.test(value));

const contentType: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 20, arbitrary: fc.constant('application/json') },
  { weight: 3, arbitrary: fc.constant('application/json; charset=utf-8') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'Application/JSON',
      'application/json;charset="UTF-8"',
      'application/json;',
      'application/json; charset=utf8',
      'application/json; charset=latin1',
      'application/json; charset=utf-16',
      'application/json; charset=utf-8; version=2',
      'application/jsonp',
      'application/merge-patch+json',
      'text/json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/octet-stream',
      '*/*',
      '',
    ),
  },
  { weight: 1, arbitrary: headerValue },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

const method = fc.oneof(
  { weight: 30, arbitrary: fc.constant('POST') },
  { weight: 1, arbitrary: fc.constantFrom('GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD') },
);

const path = fc.oneof({ weight: 30, arbitrary: fc.constant('/') }, { weight: 1, arbitrary: fc.constantFrom('/?a=1', '/x', '//', '/%2e%2e/', '/index.html') });

const contentEncoding = fc.oneof(
  { weight: 30, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'compress', 'x-unknown') },
);

function request(body: fc.Arbitrary<Uint8Array>, extraHeaders: fc.Arbitrary<Record<string, string>>): fc.Arbitrary<FuzzRequest> {
  return fc
    .record({ method, path, contentType, contentEncoding, extraHeaders, body })
    .map(({ method, path, contentType, contentEncoding, extraHeaders, body }) => {
      const headers: Record<string, string> = { ...extraHeaders };
      if (contentType !== undefined) headers['Content-Type'] = contentType;
      if (contentEncoding !== undefined) headers['Content-Encoding'] = contentEncoding;
      return { method, path, headers, body };
    });
}

const idempotencyKey = fc.oneof(
  { weight: 12, arbitrary: fc.constant({}) },
  { weight: 3, arbitrary: fc.uuid().map((key) => ({ 'Idempotency-Key': key })) },
  { weight: 1, arbitrary: headerValue.map((key) => ({ 'Idempotency-Key': key })) },
  { weight: 1, arbitrary: fc.constantFrom('k'.repeat(255), 'k'.repeat(256)).map((key) => ({ 'Idempotency-Key': key })) },
);

/** A request to the API function. */
export const apiRequest: fc.Arbitrary<FuzzRequest> = request(payloadBytes, idempotencyKey);

const messageId: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 20, arbitrary: fc.uuid() },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: anyText(12) },
  { weight: 1, arbitrary: fc.tuple(fc.uuid(), loneSurrogate).map(([id, surrogate]) => `${id}${surrogate}`) },
  { weight: 1, arbitrary: fc.constantFrom('', 'm'.repeat(256), 'm'.repeat(257)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

/** Base64 that is broken, non-canonical or not a string at all. */
const brokenData: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 24 }),
  anyText(24),
  payloadBytes.map((bytes) => base64(bytes).replace(/=+$/, '')),
  fc.tuple(payloadBytes, fc.nat(), fc.constantFrom('%', '*', '=', ' ', '-', '_', '\n')).map(([bytes, position, character]) => {
    const text = base64(bytes);
    const at = text.length === 0 ? 0 : position % text.length;
    return text.slice(0, at) + character + text.slice(at);
  }),
  fc.jsonValue({ maxDepth: 1 }),
  fc.constant(undefined),
);

const publishTime = fc.oneof(fc.constant('2026-01-02T03:04:05.678Z'), fc.string({ maxLength: 8 }), anyText(40), fc.jsonValue({ maxDepth: 1 }));
const attributes = fc.oneof(
  { weight: 3, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 16 }), { maxKeys: 3 }) },
  { weight: 2, arbitrary: fc.dictionary(anyText(8), anyText(16), { maxKeys: 3 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);

const message = fc.record(
  {
    data: fc.oneof({ weight: 10, arbitrary: payloadBytes.map(base64) }, { weight: 2, arbitrary: brokenData }),
    messageId,
    message_id: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: messageId }),
    publishTime,
    attributes,
  },
  { requiredKeys: ['data', 'messageId'] },
);

/** A message that must be stored, whatever its other fields and its envelope hold. */
const storableMessage = fc.record(
  {
    data: fc
      .oneof(fc.record({ data: validRecord }), fc.record({ data: fc.array(validRecord, { minLength: 1, maxLength: 5 }) }))
      .map((payload) => base64(utf8(JSON.stringify(payload)))),
    messageId: fc.uuid(),
    publishTime,
    attributes,
  },
  { requiredKeys: ['data', 'messageId'] },
);

const envelopeValue = fc.record(
  {
    message: fc.oneof({ weight: 15, arbitrary: message }, { weight: 5, arbitrary: storableMessage }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }),
    subscription: fc.oneof(fc.constant('projects/demo/subscriptions/ingest-push'), fc.string({ maxLength: 12 }), anyText(400), fc.jsonValue({ maxDepth: 1 })),
    deliveryAttempt: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.jsonValue({ maxDepth: 1 }), anyText(8)),
  },
  { requiredKeys: ['message'] },
);

const envelopeJson = envelopeValue.map((value) => JSON.stringify(value));

const envelopeBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 15, arbitrary: envelopeJson.map(utf8) },
  { weight: 2, arbitrary: mutated(envelopeJson).map(utf8) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(...FORBIDDEN), payloadBytes)
      .map(([key, data]) => utf8(`{"message":{"data":"${base64(data)}","messageId":"proto","${key}":{"polluted":true}}}`)),
  },
  { weight: 1, arbitrary: payloadBytes },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
);

/** A delivery to the push subscriber function. */
export const pushRequest: fc.Arbitrary<FuzzRequest> = request(envelopeBytes, fc.constant({}));
