import { lazyWarehouse } from '../../../lambda-src/handlers/store';
import { MemoryWarehouse } from '../../support/memory-warehouse';

describe('lazyWarehouse', () => {
  it('opens once on first use and shares the warehouse, even between concurrent first callers', async () => {
    const warehouse = new MemoryWarehouse();
    const open = jest.fn(async () => warehouse);
    const get = lazyWarehouse(open);
    expect(open).not.toHaveBeenCalled();
    const [first, second] = await Promise.all([get(), get()]);
    expect(await get()).toBe(first);
    expect(second).toBe(first);
    expect(open).toHaveBeenCalledTimes(1);
  });

  it('does not remember a failed open: the next call opens again', async () => {
    const warehouse = new MemoryWarehouse();
    const open = jest.fn().mockRejectedValueOnce(new Error('unreachable')).mockResolvedValue(warehouse);
    const get = lazyWarehouse(open);
    await expect(get()).rejects.toThrow('unreachable');
    await expect(get()).resolves.toBe(warehouse);
    await expect(get()).resolves.toBe(warehouse);
    expect(open).toHaveBeenCalledTimes(2);
  });
});
