/** A refused delivery as its dead letter: what it carries over, what it adds, and Pub/Sub's limits. */
import fc from 'fast-check';
import { DEAD_LETTER_ATTRIBUTES as NAMES, deadLetterOf, type RefusedDelivery } from '../../../lambda-src/dead-letter/dead-letter';
import { PUBSUB_MESSAGE_LIMITS as LIMITS } from '../../../lambda-src/rules/limits';
import { propertyRuns } from '../../support/property-runs';

const REFUSED: RefusedDelivery = {
  data: Buffer.from('{"data":{"id":"1"}}'),
  source: 'message',
  attributes: { origin: 'billing', region: 'eu' },
  reason: 'data.name: is required; data.value: is required',
  errorClass: 'invalid_input',
  requestId: 'req-1',
  messageId: '2070443601311540',
  subscription: 'projects/acme-ingest-dev/subscriptions/records-push',
  deliveryAttempt: 1,
  publishTime: '2026-01-02T03:04:05.678Z',
};

/** Pub/Sub's own checks of a message's attributes. */
function publishable(attributes: Record<string, string>): boolean {
  const entries = Object.entries(attributes);
  return (
    entries.length <= LIMITS.attributes &&
    entries.every(
      ([key, value]) =>
        key !== '' &&
        !key.startsWith(LIMITS.reservedKeyPrefix) &&
        key.isWellFormed() &&
        value.isWellFormed() &&
        Buffer.byteLength(key) <= LIMITS.attributeKeyBytes &&
        Buffer.byteLength(value) <= LIMITS.attributeValueBytes,
    )
  );
}

describe('deadLetterOf', () => {
  it("keeps the data as it came and the message's attributes, and adds why it was refused", () => {
    expect(deadLetterOf(REFUSED)).toEqual({
      data: REFUSED.data,
      attributes: {
        origin: 'billing',
        region: 'eu',
        [NAMES.reason]: REFUSED.reason,
        [NAMES.errorClass]: 'invalid_input',
        [NAMES.data]: 'message',
        [NAMES.messageId]: '2070443601311540',
        [NAMES.subscription]: REFUSED.subscription,
        [NAMES.deliveryAttempt]: '1',
        [NAMES.publishTime]: REFUSED.publishTime,
        [NAMES.requestId]: 'req-1',
      },
    });
  });

  it('says what it does not know by leaving the attribute out', () => {
    const { attributes } = deadLetterOf({ data: Buffer.from('{'), source: 'request-body', attributes: undefined, reason: 'body: is not valid JSON', errorClass: 'invalid_json', requestId: 'r' });
    expect(attributes).toEqual({ [NAMES.reason]: 'body: is not valid JSON', [NAMES.errorClass]: 'invalid_json', [NAMES.data]: 'request-body', [NAMES.requestId]: 'r' });
  });

  it('gives our attributes precedence over message attributes of the same name, and counts the ones left behind', () => {
    const { attributes } = deadLetterOf({ ...REFUSED, attributes: { [NAMES.reason]: 'forged', keep: 'me' } });
    expect(attributes).toMatchObject({ [NAMES.reason]: REFUSED.reason, keep: 'me', [NAMES.omittedAttributes]: '1' });
  });

  it('leaves out attributes Pub/Sub would refuse, and says how many', () => {
    const given = { ok: 'yes', number: 1, googKey: 'v', ['k'.repeat(LIMITS.attributeKeyBytes + 1)]: 'v', long: 'v'.repeat(LIMITS.attributeValueBytes + 1), lone: '\ud800' };
    const { attributes } = deadLetterOf({ ...REFUSED, attributes: given });
    expect(Object.keys(attributes).filter((key) => !key.startsWith('deadLetter'))).toEqual(['ok']);
    expect(attributes[NAMES.omittedAttributes]).toBe('5');
  });

  it('keeps a message of 100 attributes within 100, saying how many did not fit', () => {
    const given = Object.fromEntries(Array.from({ length: LIMITS.attributes }, (_, index) => [`a${index}`, 'v']));
    const { attributes } = deadLetterOf({ ...REFUSED, attributes: given });
    expect(Object.keys(attributes)).toHaveLength(LIMITS.attributes);
    const ours = Object.values(NAMES).length;
    expect(attributes[NAMES.omittedAttributes]).toBe(String(ours));
    expect(attributes.a0).toBe('v');
  });

  it('carries every attribute of a message that fits beside ours, and adds no count', () => {
    const room = LIMITS.attributes - (Object.values(NAMES).length - 1);
    const given = Object.fromEntries(Array.from({ length: room }, (_, index) => [`a${index}`, 'v']));
    const { attributes } = deadLetterOf({ ...REFUSED, attributes: given });
    expect(Object.keys(attributes)).toHaveLength(LIMITS.attributes);
    expect(attributes).not.toHaveProperty(NAMES.omittedAttributes);
  });

  it('cuts a long reason to 1024 bytes at a character boundary, and makes lone surrogates well-formed', () => {
    const { attributes } = deadLetterOf({ ...REFUSED, reason: `${'é'.repeat(600)}`, subscription: 'sub-\udc00' });
    expect(Buffer.byteLength(attributes[NAMES.reason]!)).toBeLessThanOrEqual(LIMITS.attributeValueBytes);
    expect(attributes[NAMES.reason]).toMatch(/^é+…$/);
    expect(attributes[NAMES.subscription]).toBe('sub-\ufffd');
  });

  it('always makes attributes Pub/Sub accepts, whatever the delivery held', () => {
    const text = fc.string({ unit: 'binary', maxLength: 1500 });
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'binary', maxLength: 300 }), fc.oneof(text, fc.integer()), { maxKeys: 120 }), text, text, (given, reason, subscription) => {
        expect(publishable(deadLetterOf({ ...REFUSED, attributes: given, reason, subscription }).attributes)).toBe(true);
      }),
      { numRuns: propertyRuns(200) },
    );
  });
});
