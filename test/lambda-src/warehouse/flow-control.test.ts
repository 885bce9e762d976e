/** The three small rules behind retries: the backoff's wait, the in-flight window, the adaptive call deadline. */
import fc from 'fast-check';
import { AimdWindow } from '../../../lambda-src/warehouse/aimd-window';
import { backoffDelayMs } from '../../../lambda-src/warehouse/backoff';
import { RoundTripTimeout } from '../../../lambda-src/warehouse/round-trip-timeout';

describe('backoffDelayMs', () => {
  const policy = { initialDelayMs: 100, maxDelayMs: 1000 };

  test('the bound doubles per retry from initialDelayMs and stops at maxDelayMs; the wait is the bound times the random draw', () => {
    const almostOne = () => 0.999_999;
    expect([1, 2, 3, 4, 5, 6].map((retry) => Math.round(backoffDelayMs(retry, policy, almostOne)))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelayMs(3, policy, () => 0.25)).toBe(100);
    expect(backoffDelayMs(3, policy, () => 0)).toBe(0);
  });

  test('property: every wait lies in [0, min(max, initial × 2^(retry-1)))', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (retry, draw) => {
        const delay = backoffDelayMs(retry, policy, () => draw);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (retry - 1)) + 1e-9);
      }),
    );
  });
});

describe('AimdWindow', () => {
  test('starts at its maximum, halves on congestion down to one, and widens by one per window of successes back to its maximum', () => {
    const window = new AimdWindow(8);
    expect(window.limit).toBe(8);
    window.congested(window.send());
    expect(window.limit).toBe(4);
    window.congested(window.send());
    window.congested(window.send());
    window.congested(window.send());
    expect(window.limit).toBe(1);
    window.congested(window.send());
    expect(window.limit).toBe(1);
    // Each success adds 1/window: about one slot per window's worth of successes.
    window.succeeded();
    expect(window.limit).toBe(2);
    window.succeeded();
    window.succeeded();
    expect(window.limit).toBe(2);
    window.succeeded();
    expect(window.limit).toBe(3);
    for (let success = 0; success < 100; success += 1) window.succeeded();
    expect(window.limit).toBe(8);
  });

  test('calls sent before a decrease cannot decrease it again', () => {
    const window = new AimdWindow(8);
    const together = [window.send(), window.send(), window.send()];
    for (const ticket of together) window.congested(ticket);
    expect(window.limit).toBe(4);
    window.congested(window.send());
    expect(window.limit).toBe(2);
  });
});

describe('RoundTripTimeout', () => {
  test('starts at its maximum, then follows RFC 6298: smoothed round trip plus four deviations, within its bounds', () => {
    const timeout = new RoundTripTimeout({ minMs: 10, maxMs: 5000 });
    expect(timeout.timeoutMs).toBe(5000);
    timeout.answered(100);
    // srtt 100, rttvar 50: 100 + 4 × 50.
    expect(timeout.timeoutMs).toBe(300);
    timeout.answered(100);
    // rttvar 0.75 × 50 = 37.5: 100 + 150.
    expect(timeout.timeoutMs).toBe(250);
    for (let call = 0; call < 50; call += 1) timeout.answered(100);
    expect(timeout.timeoutMs).toBe(100);
  });

  test('is whole milliseconds, as errors quote it', () => {
    const timeout = new RoundTripTimeout({ minMs: 10, maxMs: 5000 });
    // srtt 100.3, rttvar 50.15: 300.9.
    timeout.answered(100.3);
    expect(timeout.timeoutMs).toBe(301);
  });

  test('never below minMs however steady the round trips, and a timeout doubles it up to maxMs', () => {
    const timeout = new RoundTripTimeout({ minMs: 200, maxMs: 1000 });
    for (let call = 0; call < 50; call += 1) timeout.answered(5);
    expect(timeout.timeoutMs).toBe(200);
    timeout.timedOut();
    expect(timeout.timeoutMs).toBe(400);
    timeout.timedOut();
    timeout.timedOut();
    expect(timeout.timeoutMs).toBe(1000);
    timeout.answered(5);
    expect(timeout.timeoutMs).toBe(200);
  });

  test.each([
    [{ minMs: 0, maxMs: 10 }],
    [{ minMs: 20, maxMs: 10 }],
    [{ minMs: 1, maxMs: Number.POSITIVE_INFINITY }],
  ])('refuses bounds %j', (bounds) => {
    expect(() => new RoundTripTimeout(bounds)).toThrow(/need 0 < minMs <= maxMs/);
  });
});
