/**
 * Child process: the BigQuery REST stand-in with a modelled round trip, in a
 * process of its own so its work does not share an event loop with the
 * function or the load generator. Started with `fork` by `standin.ts`;
 * answers `stats` messages with what it received and stored.
 *
 * Usage: node --import tsx bench/standin-server.ts <latencyMs>
 */
import { WAREHOUSE_BIGQUERY_FIELDS } from '../lambda-src/record';
import { BigQueryStandIn } from '../tools/bigquery-standin';
import { BENCH_TABLE, type StandInMessage, type StandInStats } from './standin';

async function main(): Promise<void> {
  const standIn = await BigQueryStandIn.start({ latencyMs: Number(process.argv[2] ?? 0) });
  standIn.createTable(BENCH_TABLE, WAREHOUSE_BIGQUERY_FIELDS);
  process.on('message', (message: StandInMessage) => {
    if (message.type !== 'stats') return;
    const rows = standIn.rows(BENCH_TABLE);
    const inserts = standIn.requests.flatMap((request) => (request.route === 'tabledata.insertAll' ? [request] : []));
    const stats: StandInStats = {
      insertAllCalls: inserts.length,
      rowsReceived: inserts.reduce((sum, request) => sum + request.rows.length, 0),
      storedRows: rows.length,
      distinctInsertIds: new Set(rows.map((row) => row.insertId)).size,
    };
    process.send!({ type: 'stats', stats } satisfies StandInMessage);
  });
  process.on('disconnect', () => {
    void standIn.stop().then(() => process.exit(0));
  });
  process.send!({ type: 'ready', url: standIn.url } satisfies StandInMessage);
}

void main();
