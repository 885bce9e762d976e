/** Time, injectable so tests can pin latencies and ingestion timestamps. */
export interface Clock {
  /** Wall-clock time: the `ingested_at` of stored rows. */
  now(): Date;
  /** Monotonic milliseconds: only differences are meaningful (latencies). */
  monotonicMs(): number;
}

export const systemClock: Clock = {
  now: () => new Date(),
  monotonicMs: () => performance.now(),
};
