/**
 * The `Warehouse` contract, one suite for every adapter: each adapter's test
 * file calls `describeWarehouseContract` with a way to open a fresh, empty
 * warehouse and to read back what it really stored (from the DuckDB file, or
 * from the BigQuery stand-in's table), never through the port itself. The
 * read section holds `getLatest` and `listLatest` to the semantics in
 * tools/latest-versions.ts, the read window included.
 */
import { ID_MAX_LENGTH, NAME_MAX_LENGTH } from '../../../lambda-src/rules/limits';
import { RowsRejectedError, STOPPED_REASON, WarehouseError, type ReadWindow, type StoredRecord, type Warehouse, type WarehouseRow } from '../../../lambda-src/warehouse/warehouse';
import { asStoredRecord, compareUtf8, latestPage } from '../../../tools/latest-versions';

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

/** Ids that would change a query's meaning if spliced into SQL, or match more than themselves in a LIKE. */
export const INJECTION_SHAPED_IDS = [
  "' OR '1'='1",
  "' OR 1=1 --",
  "x'; DROP TABLE records; --",
  '" OR ""="',
  '`; DROP VIEW records_latest; --',
  '\\',
  "\\' OR 1=1 --",
  '%',
  '_',
  '$1',
  '@id',
  '?',
  '\u0000',
  'a\u0000b',
];

/** A window that holds every row these tests store. */
const WHOLE_TABLE: ReadWindow = { since: new Date(0) };

/** A later instant than `row()` gives, `ms` milliseconds after a fixed base. */
const at = (ms: number) => new Date(Date.UTC(2025, 5, 1, 0, 0, 0) + ms);

/** Walks every page of `listLatest` with `limit`, the last id of each page being the next `afterId`. */
async function walkPages(warehouse: Warehouse, limit: number, window = WHOLE_TABLE): Promise<StoredRecord[][]> {
  const pages: StoredRecord[][] = [];
  let afterId = '';
  for (;;) {
    const page = await warehouse.listLatest({ afterId, limit, ...window });
    pages.push(page);
    if (page.length < limit) return pages;
    afterId = page.at(-1)!.id;
  }
}

/** Edge-case values, each row with an id of its own: both round-trip tests store them. */
function edgeCaseRows(): WarehouseRow[] {
  return [
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
      const batch = edgeCaseRows();
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

    test('close() twice is safe, and a closed warehouse refuses inserts and reads', async () => {
      await subject.warehouse.close();
      await expect(subject.warehouse.close()).resolves.toBeUndefined();
      const failures = await Promise.all([
        subject.warehouse.insert(rows(1)).catch((error: unknown) => error),
        subject.warehouse.getLatest('any', WHOLE_TABLE).catch((error: unknown) => error),
        subject.warehouse.listLatest({ afterId: '', limit: 1, ...WHOLE_TABLE }).catch((error: unknown) => error),
      ]);
      for (const failure of failures) {
        expect(failure).toBeInstanceOf(WarehouseError);
        expect(failure).toMatchObject({ errorClass: 'warehouse_error', retryable: false });
      }
    });

    describe('reads', () => {
      test('an id never stored is undefined, in an empty warehouse and beside other records', async () => {
        expect(await subject.warehouse.getLatest('missing', WHOLE_TABLE)).toBeUndefined();
        await subject.warehouse.insert([row({ id: 'present' })]);
        expect(await subject.warehouse.getLatest('missing', WHOLE_TABLE)).toBeUndefined();
        expect(await subject.warehouse.getLatest('presen', WHOLE_TABLE)).toBeUndefined();
        expect(await subject.warehouse.getLatest('present ', WHOLE_TABLE)).toBeUndefined();
        expect(await subject.warehouse.getLatest('PRESENT', WHOLE_TABLE)).toBeUndefined();
        expect(await subject.warehouse.listLatest({ afterId: '', limit: 10, ...WHOLE_TABLE })).toHaveLength(1);
      });

      test('the newest ingestedAt wins, whatever order the versions were stored in; updatedAt is its ingestedAt', async () => {
        const versions = [
          row({ id: 'versioned', name: 'second', value: 2, ingestedAt: at(2000) }),
          row({ id: 'versioned', name: 'first', value: 1, ingestedAt: at(1000) }),
          row({ id: 'versioned', name: 'third', value: 3, ingestedAt: at(3000) }),
          row({ id: 'versioned', name: 'late arrival of an old version', value: 0, ingestedAt: at(500) }),
        ];
        for (const version of versions) await subject.warehouse.insert([version]);
        expect(await subject.warehouse.getLatest('versioned', WHOLE_TABLE)).toEqual({ id: 'versioned', name: 'third', value: 3, updatedAt: at(3000) });
        expect(await subject.warehouse.listLatest({ afterId: '', limit: 10, ...WHOLE_TABLE })).toEqual([
          { id: 'versioned', name: 'third', value: 3, updatedAt: at(3000) },
        ]);
      });

      test('versions stored at the same instant: the greater insert id wins, in either order and in one batch', async () => {
        await subject.warehouse.insert([row({ id: 'tie-1', name: 'loses', insertId: 'tie-1-a', ingestedAt: at(0) })]);
        await subject.warehouse.insert([row({ id: 'tie-1', name: 'wins', insertId: 'tie-1-b', ingestedAt: at(0) })]);
        await subject.warehouse.insert([row({ id: 'tie-2', name: 'wins', insertId: 'tie-2-b', ingestedAt: at(0) })]);
        await subject.warehouse.insert([row({ id: 'tie-2', name: 'loses', insertId: 'tie-2-a', ingestedAt: at(0) })]);
        await subject.warehouse.insert([
          row({ id: 'tie-3', name: 'loses', insertId: 'tie-3-a', ingestedAt: at(0) }),
          row({ id: 'tie-3', name: 'wins', insertId: 'tie-3-b', ingestedAt: at(0) }),
        ]);
        for (const id of ['tie-1', 'tie-2', 'tie-3']) expect((await subject.warehouse.getLatest(id, WHOLE_TABLE))?.name).toBe('wins');
        expect((await subject.warehouse.listLatest({ afterId: '', limit: 10, ...WHOLE_TABLE })).map((record) => record.name)).toEqual(['wins', 'wins', 'wins']);
      });

      test('values read back exactly as stored', async () => {
        const batch = edgeCaseRows();
        await subject.warehouse.insert(batch);
        for (const stored of batch) expect(await subject.warehouse.getLatest(stored.id, WHOLE_TABLE)).toEqual(asStoredRecord(stored));
        expect(await subject.warehouse.listLatest({ afterId: '', limit: batch.length, ...WHOLE_TABLE })).toEqual(latestPage(batch, { afterId: '', limit: batch.length, ...WHOLE_TABLE }));
      });

      test('injection-shaped ids are only data: each finds exactly its own record, or nothing', async () => {
        const [stored, ...absent] = INJECTION_SHAPED_IDS;
        const others = [row({ id: 'a' }), row({ id: '1' }), row({ id: stored! + ' ' })];
        await subject.warehouse.insert([row({ id: stored!, name: 'the one' }), ...others]);
        expect(await subject.warehouse.getLatest(stored!, WHOLE_TABLE)).toMatchObject({ id: stored, name: 'the one' });
        for (const id of absent) expect(await subject.warehouse.getLatest(id, WHOLE_TABLE)).toBeUndefined();
        for (const afterId of INJECTION_SHAPED_IDS) {
          const page = await subject.warehouse.listLatest({ afterId, limit: 10, ...WHOLE_TABLE });
          expect(page.map((record) => record.id)).toEqual(
            [stored!, ...others.map((other) => other.id)].filter((id) => compareUtf8(id, afterId) > 0).sort(compareUtf8),
          );
        }
        // Nothing was dropped or changed by any of them.
        expect(await subject.warehouse.listLatest({ afterId: '', limit: 10, ...WHOLE_TABLE })).toHaveLength(4);
      });

      test('a listing is in UTF-8 byte order of ids, one latest version each', async () => {
        const ids = ['b', 'a', 'B', 'é', 'e\u0301', '😀', '\uFFFD', '\uE000', 'a a', 'a', 'Z', '10', '9', 'b'];
        const stored = ids.map((id, index) => row({ id, value: index, ingestedAt: at(index) }));
        await subject.warehouse.insert(stored);
        const listed = await subject.warehouse.listLatest({ afterId: '', limit: 1000, ...WHOLE_TABLE });
        expect(listed).toEqual(latestPage(stored, { afterId: '', limit: 1000, ...WHOLE_TABLE }));
        // Code point order, which JavaScript's UTF-16 comparison gets wrong for U+E000..U+FFFF against astral characters.
        expect(listed.map((record) => record.id).slice(-3)).toEqual(['\uE000', '\uFFFD', '😀']);
        expect(await subject.warehouse.listLatest({ afterId: '😀', limit: 10, ...WHOLE_TABLE })).toEqual([]);
        expect((await subject.warehouse.listLatest({ afterId: 'a', limit: 2, ...WHOLE_TABLE })).map((record) => record.id)).toEqual(['a a', 'b']);
      });

      test.each([1, 2, 3, 7, 8, 50])('paging with limit %i visits each id once, in order, with its latest version', async (limit) => {
        const stored = Array.from({ length: 7 }, (_, index) => [
          row({ id: `page-${index}`, name: 'old', ingestedAt: at(index) }),
          row({ id: `page-${index}`, name: 'new', ingestedAt: at(100 + index) }),
        ]).flat();
        await subject.warehouse.insert(stored);
        const pages = await walkPages(subject.warehouse, limit);
        expect(pages.flat()).toEqual(latestPage(stored, { afterId: '', limit: 1000, ...WHOLE_TABLE }));
        expect(pages.slice(0, -1).every((page) => page.length === limit)).toBe(true);
      });

      test('a window reads only versions stored at or after since: the latest of those, or nothing', async () => {
        const window = { since: at(1000) };
        await subject.warehouse.insert([
          row({ id: 'before', name: 'old', ingestedAt: at(0) }),
          row({ id: 'before', name: 'still old', ingestedAt: at(999) }),
          row({ id: 'at-since', name: 'exactly at since', ingestedAt: at(1000) }),
          row({ id: 'renewed', name: 'old', ingestedAt: at(500) }),
          row({ id: 'renewed', name: 'new', ingestedAt: at(1500) }),
          row({ id: 'twice-inside', name: 'newest', ingestedAt: at(2000) }),
          row({ id: 'twice-inside', name: 'newer', ingestedAt: at(1200) }),
        ]);
        expect(await subject.warehouse.getLatest('before', window)).toBeUndefined();
        expect(await subject.warehouse.getLatest('before', WHOLE_TABLE)).toMatchObject({ name: 'still old' });
        expect(await subject.warehouse.getLatest('at-since', window)).toEqual({ id: 'at-since', name: 'exactly at since', value: expect.any(Number), updatedAt: at(1000) });
        expect(await subject.warehouse.getLatest('renewed', window)).toMatchObject({ name: 'new', updatedAt: at(1500) });
        expect(await subject.warehouse.getLatest('twice-inside', window)).toMatchObject({ name: 'newest', updatedAt: at(2000) });
        expect((await subject.warehouse.listLatest({ afterId: '', limit: 10, ...window })).map(({ id, name }) => [id, name])).toEqual([
          ['at-since', 'exactly at since'],
          ['renewed', 'new'],
          ['twice-inside', 'newest'],
        ]);
        const afterEverything = { since: at(2001) };
        expect(await subject.warehouse.getLatest('twice-inside', afterEverything)).toBeUndefined();
        expect(await subject.warehouse.listLatest({ afterId: '', limit: 10, ...afterEverything })).toEqual([]);
      });

      test.each([1, 2, 3])('paging within a window with limit %i counts only the records in it', async (limit) => {
        const window = { since: at(1000) };
        const stored = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((id, index) => row({ id, ingestedAt: at([0, 1000, 999, 1001, 5000, 10, 1000][index]!) }));
        await subject.warehouse.insert(stored);
        const pages = await walkPages(subject.warehouse, limit, window);
        expect(pages.flat().map((record) => record.id)).toEqual(['b', 'd', 'e', 'g']);
        expect(pages.flat()).toEqual(latestPage(stored, { afterId: '', limit: 1000, ...window }));
        expect(pages.slice(0, -1).every((page) => page.length === limit)).toBe(true);
      });

      test('paging while writes continue: every id present at the start exactly once, each page as of its own read', async () => {
        const written: WarehouseRow[] = [];
        const write = async (batch: WarehouseRow[]) => {
          await subject.warehouse.insert(batch);
          written.push(...batch);
        };
        const initialIds = Array.from({ length: 12 }, (_, index) => `live-${String(index).padStart(2, '0')}`);
        await write(initialIds.map((id, index) => row({ id, name: 'v0', ingestedAt: at(index) })));

        const limit = 3;
        const seen: StoredRecord[] = [];
        let afterId = '';
        for (let clock = 1000; ; clock += 10) {
          const page = await subject.warehouse.listLatest({ afterId, limit, ...WHOLE_TABLE });
          // A page reflects every write made before it was read.
          expect(page).toEqual(latestPage(written, { afterId, limit, ...WHOLE_TABLE }));
          seen.push(...page);
          if (page.length < limit) break;
          afterId = page.at(-1)!.id;
          const behind = initialIds.filter((id) => compareUtf8(id, afterId) <= 0);
          const ahead = initialIds.filter((id) => compareUtf8(id, afterId) > 0);
          // New versions of ids already read and of ids still ahead; new ids on both sides of the cursor.
          await write([
            row({ id: behind[0]!, name: `after ${afterId}`, ingestedAt: at(clock) }),
            ...ahead.slice(0, 2).map((id) => row({ id, name: `after ${afterId}`, ingestedAt: at(clock) })),
            row({ id: `live-00-new-${afterId}`, name: 'new behind', ingestedAt: at(clock) }),
            row({ id: `live-99-new-${afterId}`, name: 'new ahead', ingestedAt: at(clock) }),
          ]);
        }

        const seenIds = seen.map((record) => record.id);
        expect([...seenIds].sort(compareUtf8)).toEqual(seenIds);
        expect(new Set(seenIds).size).toBe(seenIds.length);
        expect(initialIds.filter((id) => !seenIds.includes(id))).toEqual([]);
        expect(seen.filter((record) => record.name === 'new ahead').length).toBeGreaterThan(0);
        expect(seen.filter((record) => record.name.startsWith('after ')).length).toBeGreaterThan(0);
      });
    });
  });
}
