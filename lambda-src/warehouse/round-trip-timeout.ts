/**
 * An adaptive deadline for one call, computed as TCP computes its
 * retransmission timeout (RFC 6298): a smoothed round-trip time plus four
 * times its smoothed deviation, within `[minMs, maxMs]`. A call that has
 * taken that long is far out of line with the calls before it, so it is
 * presumed hung and abandoned: retried at once (with the same insert ids)
 * it costs a round trip, where waiting for a fixed worst-case deadline would
 * hold its requests, and its slot, for seconds. A deadline that passes
 * doubles the next one (still within `maxMs`), so a warehouse that became
 * slower, rather than hung, is soon waited for long enough.
 */
export interface RoundTripTimeoutOptions {
  /** The shortest deadline, whatever the samples say. */
  minMs: number;
  /** The longest deadline, and the first one (before any sample). */
  maxMs: number;
}

export class RoundTripTimeout {
  private smoothed: number | undefined;
  private deviation = 0;
  private current: number;

  constructor(private readonly options: RoundTripTimeoutOptions) {
    if (!(options.minMs > 0) || !(options.maxMs >= options.minMs) || !Number.isFinite(options.maxMs)) {
      throw new RangeError(`RoundTripTimeout: need 0 < minMs <= maxMs, both finite, got ${options.minMs} and ${options.maxMs}`);
    }
    this.current = options.maxMs;
  }

  /** The deadline for the next call, in ms. */
  get timeoutMs(): number {
    return this.current;
  }

  /** A call answered after `elapsedMs` (an answer of any kind: it was not hung). */
  answered(elapsedMs: number): void {
    if (this.smoothed === undefined) {
      this.smoothed = elapsedMs;
      this.deviation = elapsedMs / 2;
    } else {
      this.deviation = 0.75 * this.deviation + 0.25 * Math.abs(this.smoothed - elapsedMs);
      this.smoothed = 0.875 * this.smoothed + 0.125 * elapsedMs;
    }
    this.current = this.clamp(this.smoothed + 4 * this.deviation);
  }

  /** A call reached its deadline without an answer. */
  timedOut(): void {
    this.current = this.clamp(this.current * 2);
  }

  /** Whole milliseconds: the deadline is quoted in errors and logs, where a fraction is noise. */
  private clamp(ms: number): number {
    return Math.min(this.options.maxMs, Math.max(this.options.minMs, Math.round(ms)));
  }
}
