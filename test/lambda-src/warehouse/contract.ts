/**
 * The `Warehouse` contract, one suite for every adapter: each adapter's test
 * file calls `describeWarehouseContract` with a way to open a fresh, empty
 * warehouse and to read back what it really stored (from the DuckDB file, or
 * from the BigQuery stand-in's table), never through the port itself.
 */
import { ID_MAX_LENGTH, NAME_MAX_LENGTH } from '../../../lambda-src/record';
import { STOPPED_REASON } from '../../../lambda-src/warehouse/group-commit';
import { RowsRejectedError, WarehouseError, type Warehouse, type WarehouseRow } from '../../../lambda-src/warehouse/warehouse';

/** A row as the storage holds it. */
export interface StoredRow {
  id: string;
  name: string;
  value: number;
  insertId: string;
  ingestedAt: Date;
}

export interface WarehouseUnderTest {
  warehouse: Warehouse;
  /** Everything the storage holds, in any order. May close `warehouse` first (closing twice is allowed). */
  storedRows(): Promise<StoredRow[]>;
}

let sequence = 0;

/** A valid row with unique ids; `overrides` replace any field. */
export function row(overrides: Partial<WarehouseRow> = {}): WarehouseRow {
  sequence += 1;
  return {
    id: `record-${sequence}`,
    name: `name ${sequence}`,
    value: sequence + 0.5,
    insertId: `insert-${sequence}`,
    ingestedAt: new Date(Date.UTC(2024, 0, 15, 12, 0, 0, sequence % 1000)),
    ...overrides,
  };
}

export function rows(count: number): WarehouseRow[] {
  return Array.from({ length: count }, () => row());
}

export function asStored(rows: readonly WarehouseRow[]): StoredRow[] {
  return rows.map(({ id, name, value, insertId, ingestedAt }) => ({ id, name, value, insertId, ingestedAt }));
}

export function byInsertId(rows: readonly StoredRow[]): StoredRow[] {
  return [...rows].sort((a, b) => (a.insertId < b.insertId ? -1 : a.insertId > b.insertId ? 1 : 0));
}

export function describeWarehouseContract(adapterName: string, open: () => Promise<WarehouseUnderTest>): void {
  describe(`${adapterName} honours the Warehouse contract`, () => {
    let subject: WarehouseUnderTest;

    beforeEach(async () => {
      subject = await open();
    });

    afterEach(async () => {
      await subject.warehouse.close();
    });

    test('stores every row of a batch, every column', async () => {
      const batch = rows(25);
      await subject.warehouse.insert(batch);
      expect(byInsertId(await subject.storedRows())).toEqual(byInsertId(asStored(batch)));
    });

    test('a batch sent twice is stored once (insert ids are idempotency keys)', async () => {
      const batch = rows(5);
      await subject.warehouse.insert(batch);
      await subject.warehouse.insert(batch);
      const overlapping = [batch[2]!, ...rows(2)];
      await subject.warehouse.insert(overlapping);
      expect(byInsertId(await subject.storedRows())).toEqual(byInsertId(asStored([...batch, ...overlapping.slice(1)])));
    });

    test('a repeated insert id inside one batch is stored once', async () => {
      const first = row();
      const repeat = row({ insertId: first.insertId });
      await subject.warehouse.insert([first, row({ insertId: 'other' }), repeat]);
      const stored = await subject.storedRows();
      expect(stored).toHaveLength(2);
      expect(stored.filter((candidate) => candidate.insertId === first.insertId)).toHaveLength(1);
    });

    test('an empty batch is a no-op', async () => {
      await expect(subject.warehouse.insert([])).resolves.toBeUndefined();
      expect(await subject.storedRows()).toEqual([]);
    });

    test('values round-trip exactly', async () => {
      const batch = [
        row({ name: 'Sample Data' }),
        row({ name: '' }),
        row({ name: 'ünïcödé 漢字 العربية 🦆👩‍👩‍👧 e\u0301' }),
        row({ name: 'quotes \' " ` backslash \\ newline \n tab \t; DROP TABLE records; --' }),
        row({ name: 'control \u0000 \u0001 \u001f \u007f characters' }),
        row({ name: 'é'.repeat(NAME_MAX_LENGTH) }),
        row({ id: '漢'.repeat(ID_MAX_LENGTH) }),
        row({ id: 'x'.repeat(ID_MAX_LENGTH), name: 'n'.repeat(NAME_MAX_LENGTH) }),
        row({ value: 45.67 }),
        row({ value: -273.15 }),
        row({ value: 0.1 + 0.2 }),
        row({ value: 0 }),
        row({ value: Number.MAX_VALUE }),
        row({ value: -Number.MAX_VALUE }),
        row({ value: Number.MIN_VALUE }),
        row({ value: 2 ** 53 + 2 }),
        row({ value: -1e21 }),
        row({ ingestedAt: new Date('1999-12-31T23:59:59.999Z') }),
        row({ ingestedAt: new Date('2038-01-19T03:14:08.001Z') }),
      ];
      await subject.warehouse.insert(batch);
      expect(byInsertId(await subject.storedRows())).toEqual(byInsertId(asStored(batch)));
    });

    test('many concurrent inserts all land, exactly once', async () => {
      const batches = Array.from({ length: 40 }, () => rows(5));
      // Every batch is sent twice at once, so duplicates race each other too.
      await Promise.all([...batches, ...batches].map((batch) => subject.warehouse.insert(batch)));
      expect(byInsertId(await subject.storedRows())).toEqual(byInsertId(asStored(batches.flat())));
    });

    test('a batch with an invalid row stores nothing and names the row; the others are "stopped"', async () => {
      const batch = [row(), row({ name: 'x'.repeat(NAME_MAX_LENGTH + 1) }), row()];
      const failure = await subject.warehouse.insert(batch).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(RowsRejectedError);
      const rejected = failure as RowsRejectedError;
      expect(rejected).toMatchObject({ errorClass: 'warehouse_rejected_rows', retryable: false });
      expect(rejected.rowErrors.map(({ index, reason }) => ({ index, reason }))).toEqual([
        { index: 0, reason: STOPPED_REASON },
        { index: 1, reason: 'invalid' },
        { index: 2, reason: STOPPED_REASON },
      ]);
      expect(rejected.rowErrors[1]!.message).toMatch(/name/);

      // The stopped rows were not at fault: sent again without the bad one, they are stored.
      await subject.warehouse.insert([batch[0]!, batch[2]!]);
      expect(byInsertId(await subject.storedRows())).toEqual(byInsertId(asStored([batch[0]!, batch[2]!])));
    });

    test('close() twice is safe, and a closed warehouse refuses inserts', async () => {
      await subject.warehouse.close();
      await expect(subject.warehouse.close()).resolves.toBeUndefined();
      const failure = await subject.warehouse.insert(rows(1)).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(WarehouseError);
      expect(failure).toMatchObject({ errorClass: 'warehouse_error', retryable: false });
    });
  });
}
