/**
 * An additive-increase, multiplicative-decrease limit on calls in flight, as
 * TCP's congestion window: each call that succeeds widens the window by
 * 1/window (one more slot per window's worth of successes), and a call that
 * failed because the warehouse is overloaded, rate-limited or did not answer
 * halves it. A burst of failures from calls that were all in flight at once
 * halves it once: only a call sent after the last decrease can decrease it
 * again.
 */
export class AimdWindow {
  private window: number;
  /** Calls sent so far; each call carries its number as its ticket. */
  private sent = 0;
  /** Only calls sent after this one may halve the window again. */
  private lastDecreaseTicket = 0;

  constructor(
    /** The widest the window gets, and where it starts. */
    private readonly max: number,
  ) {
    this.window = max;
  }

  /** How many calls may be in flight now: at least one, at most `max`. */
  get limit(): number {
    return Math.max(1, Math.floor(this.window));
  }

  /** Records a call being sent; hand the ticket back with its outcome. */
  send(): number {
    this.sent += 1;
    return this.sent;
  }

  succeeded(): void {
    this.window = Math.min(this.max, this.window + 1 / this.window);
  }

  /** The call with `ticket` failed in a way that asks for fewer calls at once. */
  congested(ticket: number): void {
    if (ticket <= this.lastDecreaseTicket) return;
    this.window = Math.max(1, this.window / 2);
    this.lastDecreaseTicket = this.sent;
  }
}
