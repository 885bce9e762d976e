import { appendFileSync, existsSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { RowJournal, SEGMENT_BYTES } from '../../../lambda-src/warehouse/row-journal';
import { scratchDirectory } from '../../support/scratch-directory';

const scratch = scratchDirectory('row-journal-');
const freshDirectory = () => scratch.fresh();

const texts = (entries: ReadonlyArray<{ text: string }>) => entries.map((entry) => entry.text);

test('an empty directory, or none yet, recovers nothing', async () => {
  const { journal, recovered } = await RowJournal.open<number>(freshDirectory());
  expect(recovered).toEqual({ entries: [], segments: [] });
  await journal.close();
});

test('seal hands over every entry appended since the last seal, and the segments closed since, which hold nothing newer', async () => {
  const path = freshDirectory();
  const { journal } = await RowJournal.open<number>(path);
  await Promise.all([journal.append('"a"', 1), journal.append('"b"', 2)]);
  // The segment stays open for more: its entries are handed over, the segment is not.
  expect(await journal.seal()).toEqual({ payloads: [1, 2], segments: [] });
  await journal.append('"c"', 3);
  const closing = await journal.seal({ closeSegment: true });
  expect(closing.payloads).toEqual([3]);
  expect(closing.segments).toHaveLength(1);
  await journal.append('"d"', 4);
  const next = await journal.seal({ closeSegment: true });
  expect(next.payloads).toEqual([4]);
  expect(next.segments).toHaveLength(1);
  expect(next.segments[0]).not.toBe(closing.segments[0]);
  expect(await journal.seal()).toEqual({ payloads: [], segments: [] });
  await journal.close();
});

test('a seal closes the current segment once it has grown past SEGMENT_BYTES', async () => {
  const { journal } = await RowJournal.open<number>(freshDirectory());
  await journal.append(JSON.stringify('x'.repeat(SEGMENT_BYTES / 2)), 1);
  expect((await journal.seal()).segments).toEqual([]);
  await journal.append(JSON.stringify('x'.repeat(SEGMENT_BYTES / 2)), 2);
  expect((await journal.seal()).segments).toHaveLength(1);
  await journal.close();
});

test('entries not discarded come back from open, in append order across segments; discarded ones do not', async () => {
  const path = freshDirectory();
  const { journal } = await RowJournal.open<number>(path);
  await journal.append('"applied"', 0);
  const applied = await journal.seal({ closeSegment: true });
  await journal.append('"one"', 1);
  await journal.seal({ closeSegment: true });
  await journal.append('"two"', 2);
  await journal.append('"three"', 3);
  await journal.discard(applied.segments);
  await journal.close();

  const reopened = await RowJournal.open<number>(path);
  expect(texts(reopened.recovered.entries)).toEqual(['"one"', '"two"', '"three"']);
  expect(reopened.recovered.entries[2]!.at).toMatch(/\.journal:2$/);
  // New entries never land in a recovered segment, so discarding those cannot drop them.
  await reopened.journal.append('"four"', 4);
  await reopened.journal.discard(reopened.recovered.segments);
  await reopened.journal.close();
  expect(texts((await RowJournal.open<number>(path)).recovered.entries)).toEqual(['"four"']);
});

test('a line cut short by a crash (its append never resolved) is dropped; every complete line is kept', async () => {
  const path = freshDirectory();
  const { journal } = await RowJournal.open<number>(path);
  await journal.append('"kept"', 1);
  await journal.close();
  const [segment] = readdirSync(path);
  appendFileSync(join(path, segment!), '"cut sh');

  const { recovered } = await RowJournal.open<number>(path);
  expect(texts(recovered.entries)).toEqual(['"kept"']);
  expect(recovered.segments).toEqual([join(path, segment!)]);
});

test('an entry with a newline is refused, and nothing is written', async () => {
  const path = freshDirectory();
  const { journal } = await RowJournal.open<number>(path);
  await expect(journal.append('"a"\n"b"', 1)).rejects.toThrow('single line');
  expect(await journal.seal()).toEqual({ payloads: [], segments: [] });
  await journal.close();
  expect((await RowJournal.open<number>(path)).recovered.entries).toEqual([]);
});

test('after a failed append, later entries go to a new segment, and the next seal hands over both segments', async () => {
  const path = freshDirectory();
  const { journal } = await RowJournal.open<number>(path);
  // The first segment the journal starts is a device that refuses every write (ENOSPC).
  const failing = join(path, '000000000001.journal');
  symlinkSync('/dev/full', failing);
  await expect(journal.append('"lost"', 1)).rejects.toThrow(/ENOSPC/);
  await journal.append('"kept"', 2);
  const sealed = await journal.seal({ closeSegment: true });
  expect(sealed.payloads).toEqual([2]);
  expect(sealed.segments).toEqual([failing, join(path, '000000000002.journal')]);
  await journal.discard(sealed.segments);
  expect(existsSync(failing)).toBe(false);
  await journal.close();
});
