/**
 * The hostile-input corpus: malformed requests to both entry points, each
 * with the refusal it must get: a 4xx, or for a push delivery (a JSON POST,
 * as Pub/Sub sends) the 202 that acknowledges it as poison, so that it is
 * never redelivered. `corpus.test.ts` sends them; docs/reliability.md quotes their
 * number.
 */
import { ID_MAX_LENGTH, MAX_RECORDS_PER_INSERT, NAME_MAX_LENGTH } from '../../lambda-src/rules/limits';
import { MAX_BODY_BYTES } from './functions';
import { pushDelivery, SEED_BODY, type RawRequest } from './http-client';

export interface CorpusCase {
  name: string;
  target: 'api' | 'subscriber';
  request: RawRequest;
  status: 202 | 400 | 404 | 405 | 413 | 415;
}

export const JSON_TYPE = { 'Content-Type': 'application/json' };
export const RECORD = { id: '123', name: 'Sample Data', value: 45.67 };
const recordText = (value: string) => `{"data":{"id":"123","name":"Sample Data","value":${value}}}`;
const nestedArrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const nestedObjects = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
const batch = (size: number) => JSON.stringify({ data: Array.from({ length: size }, (_, i) => ({ ...RECORD, id: `b-${i}` })) });
const INVALID_UTF8 = Uint8Array.from([0x7b, 0x22, 0x64, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]);
/** A well-formed, otherwise valid body just over the limit. */
const OVERSIZED = JSON.stringify({ data: { ...RECORD, name: 'x'.repeat(MAX_BODY_BYTES) } });

const api = (name: string, body: string | Uint8Array, status: CorpusCase['status'] = 400, headers: Record<string, string> = JSON_TYPE): CorpusCase => ({
  name,
  target: 'api',
  request: { headers, body },
  status,
});

/** Pub/Sub's acknowledgement of a delivery no retry can store. */
const POISON = 202;

/** A push delivery whose decoded `message.data` is `data`. */
const pushed = (name: string, data: string | Uint8Array, status: CorpusCase['status'] = POISON): CorpusCase => ({
  name,
  target: 'subscriber',
  request: { headers: JSON_TYPE, body: JSON.stringify(pushDelivery(data, `corpus-${name}`)) },
  status,
});

/** A push body given as is (envelope-level problems). */
const envelope = (name: string, body: string, status: CorpusCase['status'] = POISON, headers: Record<string, string> = JSON_TYPE): CorpusCase => ({
  name,
  target: 'subscriber',
  request: { headers, body },
  status,
});

export const CORPUS: readonly CorpusCase[] = [
  // Wrong types.
  api('id is a number', JSON.stringify({ data: { ...RECORD, id: 123 } })),
  api('value is a numeric string', JSON.stringify({ data: { ...RECORD, value: '45.67' } })),
  api('name is null', JSON.stringify({ data: { ...RECORD, name: null } })),
  api('value is a boolean', JSON.stringify({ data: { ...RECORD, value: true } })),
  api('data is a string', JSON.stringify({ data: 'Sample Data' })),
  api('data is null', JSON.stringify({ data: null })),
  // Missing, extra and unknown fields.
  api('data missing', JSON.stringify({ record: RECORD })),
  api('id missing', JSON.stringify({ data: { name: RECORD.name, value: RECORD.value } })),
  api("the seed's body without value", SEED_BODY.replace(',\n        "value": 45.67', '')),
  api('unknown record field', JSON.stringify({ data: { ...RECORD, extra: 1 } })),
  api('unknown top-level field', JSON.stringify({ data: RECORD, mode: 'upsert' })),
  api('empty object', '{}'),
  // Empty and oversized strings.
  api('empty id', JSON.stringify({ data: { ...RECORD, id: '' } })),
  api(`id of ${ID_MAX_LENGTH + 1} characters`, JSON.stringify({ data: { ...RECORD, id: 'i'.repeat(ID_MAX_LENGTH + 1) } })),
  api(`name of ${NAME_MAX_LENGTH + 1} characters`, JSON.stringify({ data: { ...RECORD, name: 'n'.repeat(NAME_MAX_LENGTH + 1) } })),
  // Numbers JSON cannot carry, and literals it does not have.
  api('value 1e400 (parses to Infinity)', recordText('1e400')),
  api('value -1e400', recordText('-1e400')),
  api('value NaN literal', recordText('NaN')),
  api('value Infinity literal', recordText('Infinity')),
  api('value hex literal', recordText('0x1F')),
  api('value with a leading plus', recordText('+1')),
  api('value with a leading zero', recordText('012')),
  // Prototype keys.
  api('__proto__ at the top level', '{"__proto__":{"polluted":true},"data":{"id":"123","name":"Sample Data","value":45.67}}'),
  api('__proto__ inside the record', '{"data":{"id":"123","name":"Sample Data","value":45.67,"__proto__":{"polluted":true}}}'),
  api('constructor.prototype inside the record', '{"data":{"id":"123","name":"x","value":1,"constructor":{"prototype":{"polluted":true}}}}'),
  api('unknown field named by a 500,000-character key', `{"data":{"id":"123","name":"x","value":1,"${'k'.repeat(500_000)}":1}}`),
  api('__proto__ under a 500,000-character key', `{"data":{"${'k'.repeat(500_000)}":{"__proto__":1}}}`),
  api('prototype key in a batch record', '{"data":[{"id":"1","name":"x","value":1},{"prototype":{"polluted":true}}]}'),
  // Not an object at the top.
  api('top-level array', JSON.stringify([{ data: RECORD }])),
  api('top-level string', '"data"'),
  api('top-level null', 'null'),
  api('top-level number', '45.67'),
  // Broken JSON.
  api('truncated JSON', SEED_BODY.slice(0, SEED_BODY.length / 2)),
  api('trailing garbage', `${JSON.stringify({ data: RECORD })}garbage`),
  api('two JSON documents', `${JSON.stringify({ data: RECORD })}${JSON.stringify({ data: RECORD })}`),
  api('single-quoted strings', "{'data':{'id':'123','name':'x','value':1}}"),
  api('empty body', ''),
  api('whitespace body', ' \n\t '),
  api('not UTF-8', INVALID_UTF8),
  api('form-encoded body labelled JSON', 'id=123&name=Sample+Data&value=45.67'),
  // Deep nesting: must not overflow a stack anywhere.
  api('200,000 nested arrays', nestedArrays(200_000)),
  api('100,000 nested objects', nestedObjects(100_000)),
  api('10,000 nested arrays as data', `{"data":${nestedArrays(10_000)}}`),
  api('10,000 nested objects as the id', `{"data":{"id":${nestedObjects(10_000)},"name":"x","value":1}}`),
  api('an array of 200,000 elements as data', `{"data":[${'0,'.repeat(200_000)}0]}`),
  api('an object of 50,000 keys', `{${Array.from({ length: 50_000 }, (_, index) => `"k${index}":0`).join(',')}}`),
  // Size limits.
  api(`body over ${MAX_BODY_BYTES} bytes`, OVERSIZED, 413),
  api('batch of 0', batch(0)),
  api(`batch of ${MAX_RECORDS_PER_INSERT + 1}`, batch(MAX_RECORDS_PER_INSERT + 1)),
  api('one bad record inside a batch of 3', JSON.stringify({ data: [RECORD, { ...RECORD, id: '124', value: 'x' }, { ...RECORD, id: '125' }] })),
  // Content types, encodings, headers.
  api('text/plain', JSON.stringify({ data: RECORD }), 415, { 'Content-Type': 'text/plain' }),
  api('no Content-Type', JSON.stringify({ data: RECORD }), 415, {}),
  api('form-urlencoded', 'id=123&name=x&value=1', 415, { 'Content-Type': 'application/x-www-form-urlencoded' }),
  api('multipart', '--b\r\n\r\n{}\r\n--b--', 415, { 'Content-Type': 'multipart/form-data; boundary=b' }),
  api('charset latin1', JSON.stringify({ data: RECORD }), 415, { 'Content-Type': 'application/json; charset=latin1' }),
  api('unknown media type parameter', JSON.stringify({ data: RECORD }), 415, { 'Content-Type': 'application/json; profile=x' }),
  api('corrupt gzip', 'not gzip', 400, { ...JSON_TYPE, 'Content-Encoding': 'gzip' }),
  api('Idempotency-Key of 256 characters', JSON.stringify({ data: RECORD }), 400, { ...JSON_TYPE, 'Idempotency-Key': 'k'.repeat(256) }),
  api('Idempotency-Key of spaces', JSON.stringify({ data: RECORD }), 400, { ...JSON_TYPE, 'Idempotency-Key': '   ' }),
  api('Idempotency-Key not ASCII', JSON.stringify({ data: RECORD }), 400, { ...JSON_TYPE, 'Idempotency-Key': 'cl\u00e9' }),
  // Header names are case-insensitive: these are two Idempotency-Key headers, which Node would join into "a, b".
  api('two Idempotency-Key headers', JSON.stringify({ data: RECORD }), 400, { ...JSON_TYPE, 'Idempotency-Key': 'a', 'idempotency-key': 'b' }),
  // Methods and paths.
  { name: 'GET /', target: 'api', request: { method: 'GET' }, status: 405 },
  { name: 'PUT / with a valid body', target: 'api', request: { method: 'PUT', headers: JSON_TYPE, body: JSON.stringify({ data: RECORD }) }, status: 405 },
  { name: 'DELETE /', target: 'api', request: { method: 'DELETE' }, status: 405 },
  { name: 'PATCH / with a valid body', target: 'api', request: { method: 'PATCH', headers: JSON_TYPE, body: JSON.stringify({ data: RECORD }) }, status: 405 },
  { name: 'POST to an unknown path', target: 'api', request: { path: '/ingest', headers: JSON_TYPE, body: JSON.stringify({ data: RECORD }) }, status: 404 },
  { name: 'POST to an 8,000-character path', target: 'api', request: { path: `/${'p'.repeat(8000)}`, headers: JSON_TYPE, body: '{}' }, status: 404 },

  // Push: the envelope.
  envelope('push body not JSON', 'message=1'),
  envelope('push body a top-level array', JSON.stringify([pushDelivery({ data: RECORD }, 'm')])),
  envelope('push without message', JSON.stringify({ subscription: 'projects/demo/subscriptions/s' })),
  envelope('push message a string', JSON.stringify({ message: 'hello', subscription: 's' })),
  envelope('push without messageId', JSON.stringify({ message: { data: Buffer.from(JSON.stringify({ data: RECORD })).toString('base64') } })),
  envelope('push messageId empty', JSON.stringify({ message: { data: 'e30=', messageId: '' } })),
  envelope('push messageId a number', JSON.stringify({ message: { data: 'e30=', messageId: 42 } })),
  envelope('push messageId with a lone surrogate', `{"message":{"data":"${Buffer.from(JSON.stringify({ data: RECORD })).toString('base64')}","messageId":"m-\\ud800"}}`),
  envelope('push without data', JSON.stringify({ message: { messageId: 'corpus-no-data' } })),
  envelope('push data not a string', JSON.stringify({ message: { data: { id: '1' }, messageId: 'corpus-data-object' } })),
  envelope('push data broken base64', JSON.stringify({ message: { data: '%%%not*base64', messageId: 'corpus-bad-base64' } })),
  envelope('push data base64 with a missing padding', JSON.stringify({ message: { data: 'eyJ', messageId: 'corpus-short-base64' } })),
  envelope('push data empty', JSON.stringify({ message: { data: '', messageId: 'corpus-empty-data' } })),
  envelope('push __proto__ in the envelope', '{"message":{"data":"e30=","messageId":"corpus-proto","__proto__":{"polluted":true}}}'),
  envelope('push text/plain', JSON.stringify(pushDelivery({ data: RECORD }, 'corpus-text-plain')), 415, { 'Content-Type': 'text/plain' }),
  { name: 'push GET', target: 'subscriber', request: { method: 'GET' }, status: 405 },
  // Push: the message data.
  pushed('push data not JSON', 'definitely not json'),
  pushed('push data not UTF-8', INVALID_UTF8),
  pushed('push data truncated JSON', JSON.stringify({ data: RECORD }).slice(0, 20)),
  pushed('push data top-level null', 'null'),
  pushed('push data a record without value', JSON.stringify({ data: { id: '1', name: 'x' } })),
  pushed('push data value 1e400', recordText('1e400')),
  pushed('push data with a 500,000-character key', `{"data":{"id":"1","name":"x","value":1,"${'k'.repeat(500_000)}":1}}`),
  pushed('push data __proto__ in the record', '{"data":{"id":"1","name":"x","value":1,"__proto__":{"polluted":true}}}'),
  pushed(`push data batch of ${MAX_RECORDS_PER_INSERT + 1}`, batch(MAX_RECORDS_PER_INSERT + 1)),
  pushed('push data one bad record inside a batch', JSON.stringify({ data: [RECORD, { ...RECORD, id: '' }] })),
  pushed('push data 100,000 nested arrays', nestedArrays(100_000)),
  pushed('push data with a lone surrogate in the id', '{"data":{"id":"\\udfff","name":"x","value":1}}'),
  pushed(`push data over ${MAX_BODY_BYTES} bytes`, OVERSIZED),
];
