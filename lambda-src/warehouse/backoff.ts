/**
 * How long to wait before retrying a failed call: exponential backoff with
 * "full jitter" (a uniformly random wait between zero and the exponential
 * bound), which spreads the retries of many callers that failed together
 * instead of sending them back in step. A three-line formula, so it is ours:
 * the retry libraries on npm (`p-retry`, `exponential-backoff`, `cockatiel`)
 * wrap a function in their own retry loop, while ours lives in the
 * group-commit batcher, which retries batches of requests that each carry
 * their own deadline.
 */

export interface BackoffPolicy {
  /** The bound on the first retry's wait; it doubles with each further attempt. */
  initialDelayMs: number;
  /** The bound never grows past this. */
  maxDelayMs: number;
}

/**
 * The wait before retry number `retry` (1 for the first retry): uniform in
 * `[0, min(maxDelayMs, initialDelayMs × 2^(retry − 1)))`. `random` returns a
 * number in [0, 1), like `Math.random`.
 */
export function backoffDelayMs(retry: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const bound = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, retry - 1));
  return random() * bound;
}
