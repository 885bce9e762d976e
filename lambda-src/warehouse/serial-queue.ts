/** Runs work one item at a time, in call order; a failed item does not stop the ones queued after it. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const done = this.tail.then(work);
    this.tail = done.catch(() => undefined);
    return done;
  }

  /** Settles once everything queued so far has. */
  drained(): Promise<unknown> {
    return this.tail;
  }
}
