import { stalePages } from '../../tools/api-docs/main';

describe('the API reference check', () => {
  it('names missing, stale and no-longer-generated pages, and nothing when they match', () => {
    const committed = new Map([
      ['README.md', 'index'],
      ['classes/WarehouseTable.md', 'old'],
      ['classes/Gone.md', 'x'],
    ]);
    const generated = new Map([
      ['README.md', 'index'],
      ['classes/WarehouseTable.md', 'new'],
      ['classes/IngestTopic.md', 'y'],
    ]);
    expect(stalePages(committed, generated)).toEqual(['classes/Gone.md (no longer generated)', 'classes/IngestTopic.md (missing)', 'classes/WarehouseTable.md (stale)']);
    expect(stalePages(generated, generated)).toEqual([]);
  });
});
