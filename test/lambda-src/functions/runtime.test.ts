import { createFunctionRuntime, functionSettingsFromEnv } from '../../../lambda-src/functions/runtime';
import { MAX_BODY_BYTES, READ_WINDOW_HOURS } from '../../../lambda-src/rules/limits';
import { GroupCommitWarehouse } from '../../../lambda-src/warehouse/group-commit';
import { WarehouseError, type WarehouseRow } from '../../../lambda-src/warehouse/warehouse';
import { capturingLogger } from '../../support/function-server';
import { MemoryWarehouse } from '../../support/memory-warehouse';

describe('functionSettingsFromEnv', () => {
  it('defaults to a 1 MiB body limit, no project and a 24-hour read window', () => {
    expect(functionSettingsFromEnv({})).toEqual({ maxBodyBytes: MAX_BODY_BYTES.default, projectId: undefined, readWindowHours: READ_WINDOW_HOURS.default });
    expect(MAX_BODY_BYTES.default).toBe(1048576);
    expect(READ_WINDOW_HOURS.default).toBe(24);
  });

  it('reads MAX_BODY_BYTES, GOOGLE_CLOUD_PROJECT and READ_WINDOW_HOURS', () => {
    expect(functionSettingsFromEnv({ MAX_BODY_BYTES: '2048', GOOGLE_CLOUD_PROJECT: 'demo', READ_WINDOW_HOURS: '168' })).toEqual({
      maxBodyBytes: 2048,
      projectId: 'demo',
      readWindowHours: 168,
    });
    expect(functionSettingsFromEnv({ READ_WINDOW_HOURS: String(READ_WINDOW_HOURS.max) }).readWindowHours).toBe(READ_WINDOW_HOURS.max);
  });

  it.each(['0', '-1', '1.5', 'a day', '8761', '1e2'])('refuses READ_WINDOW_HOURS=%j, naming the variable', (value) => {
    expect(() => functionSettingsFromEnv({ READ_WINDOW_HOURS: value })).toThrow(/^READ_WINDOW_HOURS must be an integer from 1 to 8760/);
  });

  it.each(['0', '-1', '1.5', 'lots', '4194305', '1e3'])('refuses MAX_BODY_BYTES=%j, naming the variable', (value) => {
    expect(() => functionSettingsFromEnv({ MAX_BODY_BYTES: value })).toThrow(/^MAX_BODY_BYTES must be an integer from 1 to 4194304/);
  });
});

describe('createFunctionRuntime', () => {
  const row: WarehouseRow = { id: 'a', name: 'a', value: 1, insertId: 'i-1', ingestedAt: new Date(0) };

  it('opens nothing until the first request, then batches over the insert-failure log over the adapter', async () => {
    const adapter = new MemoryWarehouse();
    const open = jest.fn(async () => adapter);
    const logger = capturingLogger();
    const runtime = createFunctionRuntime({ functionName: 'api', openWarehouse: open, settings: { maxBodyBytes: 10, projectId: undefined, readWindowHours: 3 }, logger });
    expect(runtime.readWindowHours).toBe(3);
    expect(open).not.toHaveBeenCalled();
    expect(runtime.maxBodyBytes).toBe(10);
    const warehouse = await runtime.warehouse();
    expect(warehouse).toBeInstanceOf(GroupCommitWarehouse);
    expect(await runtime.warehouse()).toBe(warehouse);

    // Not retryable, so the batcher makes one attempt: one insert-failed line.
    adapter.failWith(new WarehouseError('down', 'warehouse_error', false));
    await expect(warehouse.insert([row])).rejects.toThrow('down');
    expect(logger.lines).toEqual([expect.objectContaining({ event: 'warehouse_insert_failed', function: 'api', rows: 1 })]);

    await runtime.close();
    expect(adapter.closeCalls).toBe(1);
  });

  it('closes without opening when no request came', async () => {
    const open = jest.fn(async () => new MemoryWarehouse());
    await createFunctionRuntime({ functionName: 'api', openWarehouse: open, settings: { maxBodyBytes: 10, projectId: undefined } }).close();
    expect(open).not.toHaveBeenCalled();
  });
});
