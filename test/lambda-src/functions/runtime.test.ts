import { createFunctionRuntime, functionSettingsFromEnv, DEFAULT_MAX_BODY_BYTES } from '../../../lambda-src/functions/runtime';
import { GroupCommitWarehouse } from '../../../lambda-src/warehouse/group-commit';
import { WarehouseError, type WarehouseRow } from '../../../lambda-src/warehouse/warehouse';
import { capturingLogger } from '../../support/function-server';
import { MemoryWarehouse } from '../../support/memory-warehouse';

describe('functionSettingsFromEnv', () => {
  it('defaults to a 1 MiB body limit and no project', () => {
    expect(functionSettingsFromEnv({})).toEqual({ maxBodyBytes: DEFAULT_MAX_BODY_BYTES, projectId: undefined });
    expect(DEFAULT_MAX_BODY_BYTES).toBe(1048576);
  });

  it('reads MAX_BODY_BYTES and GOOGLE_CLOUD_PROJECT', () => {
    expect(functionSettingsFromEnv({ MAX_BODY_BYTES: '2048', GOOGLE_CLOUD_PROJECT: 'demo' })).toEqual({ maxBodyBytes: 2048, projectId: 'demo' });
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
    const runtime = createFunctionRuntime({ functionName: 'api', openWarehouse: open, settings: { maxBodyBytes: 10, projectId: undefined }, logger });
    expect(open).not.toHaveBeenCalled();
    expect(runtime.maxBodyBytes).toBe(10);
    const warehouse = await runtime.warehouse();
    expect(warehouse).toBeInstanceOf(GroupCommitWarehouse);
    expect(await runtime.warehouse()).toBe(warehouse);

    adapter.failWith(new WarehouseError('down', 'warehouse_unavailable', true));
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
