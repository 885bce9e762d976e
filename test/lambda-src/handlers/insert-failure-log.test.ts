import { InsertFailureLogWarehouse, describeWarehouseFailure } from '../../../lambda-src/handlers/insert-failure-log';
import { RowsRejectedError, WarehouseError, type WarehouseRow } from '../../../lambda-src/warehouse/warehouse';
import { capturingLogger } from '../../support/function-server';
import { MemoryWarehouse } from '../../support/memory-warehouse';

const rows: WarehouseRow[] = [
  { id: 'a', name: 'a', value: 1, insertId: 'i-1', ingestedAt: new Date(0) },
  { id: 'b', name: 'b', value: 2, insertId: 'i-2', ingestedAt: new Date(0) },
];

describe('InsertFailureLogWarehouse', () => {
  it('passes successful inserts through without a line', async () => {
    const inner = new MemoryWarehouse();
    const logger = capturingLogger();
    await new InsertFailureLogWarehouse(inner, logger, 'api').insert(rows);
    expect(inner.committedRows).toHaveLength(2);
    expect(logger.lines).toEqual([]);
  });

  it('writes one insert-failed line per failed call and rethrows the classified error', async () => {
    const inner = new MemoryWarehouse();
    const logger = capturingLogger();
    inner.failWith(new WarehouseError('503 from BigQuery', 'warehouse_unavailable', true));
    const warehouse = new InsertFailureLogWarehouse(inner, logger, 'subscriber');
    await expect(warehouse.insert(rows)).rejects.toMatchObject({ errorClass: 'warehouse_unavailable', retryable: true });
    expect(logger.lines).toEqual([
      expect.objectContaining({
        event: 'warehouse_insert_failed',
        function: 'subscriber',
        rows: 2,
        errorClass: 'warehouse_unavailable',
        retryable: true,
        error: '503 from BigQuery',
      }),
    ]);
  });

  it('passes reads through, and a failed read writes no insert-failed line (its request line tells it)', async () => {
    const inner = new MemoryWarehouse();
    const logger = capturingLogger();
    const warehouse = new InsertFailureLogWarehouse(inner, logger, 'api');
    await warehouse.insert(rows);
    expect(await warehouse.getLatest('a', { since: new Date(0) })).toEqual({ id: 'a', name: 'a', value: 1, updatedAt: new Date(0) });
    expect(await warehouse.listLatest({ afterId: 'a', limit: 5, since: new Date(0) })).toEqual([{ id: 'b', name: 'b', value: 2, updatedAt: new Date(0) }]);
    const failure = new WarehouseError('503 from BigQuery', 'warehouse_unavailable', true);
    inner.failWith(failure);
    await expect(warehouse.getLatest('a', { since: new Date(0) })).rejects.toBe(failure);
    await expect(warehouse.listLatest({ afterId: '', limit: 1, since: new Date(0) })).rejects.toBe(failure);
    expect(logger.lines).toEqual([]);
  });

  it('classifies an unexpected throw as a non-retryable warehouse_error', async () => {
    const inner = new MemoryWarehouse();
    const logger = capturingLogger();
    inner.failWith(new RangeError('boom'));
    await expect(new InsertFailureLogWarehouse(inner, logger, 'api').insert(rows)).rejects.toBeInstanceOf(WarehouseError);
    expect(logger.lines[0]).toMatchObject({ errorClass: 'warehouse_error', retryable: false, error: 'RangeError: boom' });
  });

  it('closes the inner warehouse', async () => {
    const inner = new MemoryWarehouse();
    await new InsertFailureLogWarehouse(inner, capturingLogger(), 'api').close();
    expect(inner.closeCalls).toBe(1);
  });
});

describe('describeWarehouseFailure', () => {
  it('lists the first five refused rows and counts the rest', () => {
    const rowErrors = Array.from({ length: 7 }, (_, index) => ({ index, reason: 'invalid', message: `bad ${index}` }));
    expect(describeWarehouseFailure(new RowsRejectedError(rowErrors))).toBe(
      'warehouse rejected 7 row(s) (row 0: invalid: bad 0; row 1: invalid: bad 1; row 2: invalid: bad 2; row 3: invalid: bad 3; row 4: invalid: bad 4; and 2 more)',
    );
  });
});
