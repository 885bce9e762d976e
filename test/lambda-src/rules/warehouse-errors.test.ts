import { asWarehouseError, failureText, WarehouseError } from '../../../lambda-src/rules/warehouse-errors';

describe('asWarehouseError', () => {
  it('keeps a WarehouseError as it is, whatever the adapter would say', () => {
    const error = new WarehouseError('x', 'warehouse_unavailable', true);
    expect(asWarehouseError(error, { classify: () => new WarehouseError('other', 'warehouse_error', false) })).toBe(error);
  });

  it("lets the adapter classify what it recognises, given the failure's text", () => {
    const timeout = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const classified = asWarehouseError(timeout, {
      operation: 'Stand-in insert',
      classify: (error, text) =>
        (error as { code?: string }).code === 'ECONNRESET' ? new WarehouseError(`reset: ${text}`, 'warehouse_unavailable', true) : undefined,
    });
    expect(classified).toMatchObject({ message: 'reset: socket hang up', errorClass: 'warehouse_unavailable', retryable: true });
  });

  it('makes the rest an unclassified, non-retryable warehouse_error naming the operation, with no cause kept', () => {
    const failure = asWarehouseError(new RangeError('boom'), { operation: 'DuckDB insert', classify: () => undefined });
    expect(failure).toMatchObject({ message: 'DuckDB insert failed: RangeError: boom', errorClass: 'warehouse_error', retryable: false });
    expect(failure.cause).toBeUndefined();
    expect(asWarehouseError('plain text')).toMatchObject({ message: 'plain text', errorClass: 'warehouse_error' });
  });
});

describe('failureText', () => {
  it('is the first line of the message, after the error name unless it is plain Error', () => {
    expect(failureText(new Error('IO Error: disk full\nstack details'))).toBe('IO Error: disk full');
    expect(failureText(new TypeError('not a function'))).toBe('TypeError: not a function');
    expect(failureText({ name: 'ApiError', message: 'Not found' })).toBe('ApiError: Not found');
    expect(failureText(undefined)).toBe('undefined');
  });

  it('cuts a long message at 300 characters', () => {
    expect(failureText(new Error('x'.repeat(400)))).toBe(`${'x'.repeat(300)}…`);
  });
});
