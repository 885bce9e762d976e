/** Throws a RangeError naming `owner` and the option unless `value` is a positive safe integer. */
export function requirePositiveInteger(owner: string, name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${owner}: ${name} must be a positive integer, got ${value}`);
  }
}
