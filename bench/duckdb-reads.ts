/**
 * Reads on DuckDB at a million versions: 900,000 records, 100,000 of them
 * updated once, all within the default read window, written through
 * `DuckDbWarehouse.insert` in batches of 500 (the batcher's largest) by one
 * writer, as the batcher sends them: the ingest rate is measured on the way,
 * so what the read path costs writes shows in the same run. Ids are
 * `customer-NNNNNNN` in scattered order (no help from DuckDB's per-block
 * min/max). Then, with the adapter: the first page of `GET /records` (101
 * rows, as the API asks for a page of 100), pages further on, a get of one
 * id, and the same reads while a writer commits batches beside them (reads
 * run on their own connection). Last, on the same file, the page query as
 * the adapter ran it before the id key (every version in the window
 * ranked), for comparison.
 */
import { join } from 'node:path';
import { DuckDBInstance, INTEGER, TIMESTAMPTZ, timestampTZValue, VARCHAR } from '@duckdb/node-api';
import { DEFAULT_PAGE_LIMIT } from '../lambda-src/handlers/records';
import { MAX_RECORDS_PER_INSERT } from '../lambda-src/rules/limits';
import { DUCKDB_SCHEMA, DUCKDB_TABLE, DuckDbWarehouse } from '../lambda-src/warehouse/duckdb';
import { latestPageQuery, READ_PARAMETERS } from '../lambda-src/warehouse/latest-view';
import type { WarehouseRow } from '../lambda-src/warehouse/warehouse';
import { scratchDirectory } from './functions';
import { atMost, median, row, type Row } from '../tools/bench/report';

export interface ReadSettings {
  /** Records written before the first version is updated. */
  records: number;
  /** Records updated once more (the million rows are records + updates). */
  updates: number;
  /** Reads timed per figure. */
  samples: number;
}

/** The batcher's largest batch. */
const BATCH_ROWS = MAX_RECORDS_PER_INSERT;
/** The API reads a page of `limit` + 1 to know whether another follows. */
const PAGE_ROWS = DEFAULT_PAGE_LIMIT + 1;
/** A multiplier coprime with every record count used, so `index × STRIDE mod records` visits each id once, scattered. */
const STRIDE = 7919;

const idOf = (index: number, records: number) => `customer-${String((index * STRIDE) % records).padStart(7, '0')}`;

/** The versions in write order: every record once, then the updates, one millisecond apart, ending now. */
function* versions({ records, updates }: ReadSettings, start: number): Generator<WarehouseRow> {
  for (let index = 0; index < records + updates; index += 1) {
    const updated = index >= records;
    const record = updated ? (index - records) * 9 : index;
    yield {
      id: idOf(record, records),
      name: updated ? `Renamed ${record}` : `Sample Data ${record}`,
      value: index + 0.25,
      insertId: `bench-${index}`,
      ingestedAt: new Date(start + index),
    };
  }
}

async function timed(samples: number, read: (sample: number) => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let sample = 0; sample < samples; sample += 1) {
    const startedAt = performance.now();
    await read(sample);
    times.push(performance.now() - startedAt);
  }
  return times;
}

export async function duckDbReadsBenchmark(settings: ReadSettings): Promise<Row[]> {
  const path = join(scratchDirectory('duckdb-reads'), 'warehouse.duckdb');
  const total = settings.records + settings.updates;
  const start = Date.now() - total - 60_000;
  const since = new Date(start - 3_600_000);
  const benchmark = `DuckDB reads, ${(total / 1e6).toLocaleString('en-US')}M versions`;

  const warehouse = await DuckDbWarehouse.open(path);
  const ingestStarted = performance.now();
  let batch: WarehouseRow[] = [];
  for (const version of versions(settings, start)) {
    batch.push(version);
    if (batch.length === BATCH_ROWS) {
      await warehouse.insert(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await warehouse.insert(batch);
  const ingestRowsPerSecond = total / ((performance.now() - ingestStarted) / 1000);

  const someId = (sample: number) => idOf((sample * 104_729) % settings.records, settings.records);
  const firstPage = await timed(settings.samples, () => warehouse.listLatest({ afterId: '', limit: PAGE_ROWS, since }));
  const laterPages = await timed(settings.samples, (sample) => warehouse.listLatest({ afterId: someId(sample), limit: PAGE_ROWS, since }));
  const gets = await timed(settings.samples, async (sample) => {
    if ((await warehouse.getLatest(someId(sample), { since })) === undefined) throw new Error(`${someId(sample)} not found`);
  });

  // The same reads while one writer commits batches of 16 new versions back to back beside them.
  let writing = true;
  let written = 0;
  const writer = (async () => {
    while (writing) {
      const rows: WarehouseRow[] = Array.from({ length: 16 }, (_, index) => ({
        id: someId(written + index),
        name: 'Written meanwhile',
        value: written + index,
        insertId: `beside-${written + index}`,
        ingestedAt: new Date(),
      }));
      await warehouse.insert(rows);
      written += rows.length;
    }
  })();
  const pagesBesideWrites = await timed(settings.samples, () => warehouse.listLatest({ afterId: '', limit: PAGE_ROWS, since }));
  const getsBesideWrites = await timed(settings.samples, (sample) => warehouse.getLatest(someId(sample), { since }));
  writing = false;
  await writer;
  await warehouse.close();

  const before = await pageAsBefore(path, since, Math.min(settings.samples, 5));

  const ms = (metric: string, values: number[], target?: number) =>
    row(benchmark, { metric, value: median(values), unit: 'ms', target: target === undefined ? undefined : atMost(target) });
  return [
    row(benchmark, { metric: `ingest through the adapter, batches of ${BATCH_ROWS}`, value: ingestRowsPerSecond, unit: 'rows/s' }),
    ms(`first page of ${PAGE_ROWS}, p50`, firstPage, 50),
    ms(`later pages of ${PAGE_ROWS}, p50`, laterPages),
    ms('get by id, p50', gets, 10),
    row(benchmark, {
      metric: `first page, p50, beside a writer (${written} rows committed meanwhile)`,
      value: median(pagesBesideWrites),
      unit: 'ms',
      baseline: { label: 'no writer', value: median(firstPage) },
    }),
    row(benchmark, { metric: 'get by id, p50, beside a writer', value: median(getsBesideWrites), unit: 'ms', baseline: { label: 'no writer', value: median(gets) } }),
    row(benchmark, { metric: 'first page as read before the id key (every version ranked), p50', value: median(before), unit: 'ms' }),
  ];
}

/** The page query the adapter ran before it had id keys: the port's SQL on the whole table. */
async function pageAsBefore(path: string, since: Date, samples: number): Promise<number[]> {
  const instance = await DuckDBInstance.create(path, { threads: '1' });
  const connection = await instance.connect();
  try {
    const statement = await connection.prepare(latestPageQuery(`"${DUCKDB_SCHEMA}"."${DUCKDB_TABLE}"`, (name) => `$${name}`));
    return await timed(samples, async () => {
      statement.bind(
        { [READ_PARAMETERS.since]: timestampTZValue(BigInt(since.getTime()) * 1000n), [READ_PARAMETERS.afterId]: '', [READ_PARAMETERS.limit]: PAGE_ROWS },
        { [READ_PARAMETERS.since]: TIMESTAMPTZ, [READ_PARAMETERS.afterId]: VARCHAR, [READ_PARAMETERS.limit]: INTEGER },
      );
      await statement.runAndReadAll();
    });
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
