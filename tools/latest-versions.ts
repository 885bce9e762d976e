/**
 * The read semantics of the `Warehouse` port, in plain TypeScript, for the
 * test doubles and the BigQuery stand-in: only versions stored at or after
 * the window's `since`, one version per id (newest
 * `ingestedAt`, then the greater insert id), ids in UTF-8 byte order (what
 * BigQuery and DuckDB compare strings by; JavaScript's `<` compares UTF-16
 * code units, which orders some characters differently). The real adapters
 * are held to the same semantics by the contract suite.
 */
import type { ListLatestOptions, ReadWindow, StoredRecord, WarehouseRow } from '../lambda-src/warehouse/warehouse';

/** What orders versions of one id. */
export interface Version {
  id: string;
  insertId: string;
  ingestedAt: Date;
}

/** Compares strings by their UTF-8 bytes (the same as by Unicode code points). */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Sorts the newer of two versions of one id first. */
export function newestFirst(a: Version, b: Version): number {
  return b.ingestedAt.getTime() - a.ingestedAt.getTime() || compareUtf8(b.insertId, a.insertId);
}

/** The latest version of each id, in id order. */
export function latestVersions<T extends Version>(versions: Iterable<T>): T[] {
  const latest = new Map<string, T>();
  for (const version of versions) {
    const current = latest.get(version.id);
    if (current === undefined || newestFirst(version, current) < 0) latest.set(version.id, version);
  }
  return [...latest.values()].sort((a, b) => compareUtf8(a.id, b.id));
}

/** A stored row as a read returns it. */
export function asStoredRecord({ id, name, value, ingestedAt }: WarehouseRow): StoredRecord {
  return { id, name, value, updatedAt: ingestedAt };
}

/** The versions a read with this window sees. */
export function withinWindow<T extends Version>(versions: Iterable<T>, { since }: ReadWindow): T[] {
  return [...versions].filter((version) => version.ingestedAt.getTime() >= since.getTime());
}

/** What `getLatest(id, window)` must answer over `rows`. */
export function latestOf(rows: Iterable<WarehouseRow>, id: string, window: ReadWindow): StoredRecord | undefined {
  const [latest] = latestVersions(withinWindow(rows, window).filter((row) => row.id === id));
  return latest === undefined ? undefined : asStoredRecord(latest);
}

/** What `listLatest(options)` must answer over `rows`. */
export function latestPage(rows: Iterable<WarehouseRow>, { afterId, limit, since }: ListLatestOptions): StoredRecord[] {
  return latestVersions(withinWindow(rows, { since }))
    .filter((row) => compareUtf8(row.id, afterId) > 0)
    .slice(0, limit)
    .map(asStoredRecord);
}
