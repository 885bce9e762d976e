/**
 * The ingest payload, `{"data": record}` or `{"data": [record, ...]}`, as both
 * `POST /` and Pub/Sub messages carry it. Records are validated by the one
 * schema in `record.ts`; this module only adds the envelope and batch rules.
 */
import { parseRecord, type FieldError, type IngestRecord } from '../record';
import { MAX_RECORDS_PER_INSERT } from '../rules/limits';

const PAYLOAD_KEYS: ReadonlySet<string> = new Set(['data']);

export type IngestPayloadResult =
  | { ok: true; records: IngestRecord[]; batch: boolean }
  /** `rows`: how many records the payload carried, for the log line. */
  | { ok: false; errors: FieldError[]; rows: number };

/** All-or-nothing: one bad record refuses the whole payload, with every bad field named. */
export function parseIngestPayload(value: unknown): IngestPayloadResult {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, errors: [{ field: 'body', message: 'must be a JSON object with a "data" field' }], rows: 0 };
  }
  const unknownKeys = Object.keys(value).filter((key) => !PAYLOAD_KEYS.has(key));
  const envelopeErrors: FieldError[] = unknownKeys.map((key) => ({ field: key, message: 'unknown field' }));
  const data = (value as { data?: unknown }).data;
  if (data === undefined) return { ok: false, errors: [{ field: 'data', message: 'is required' }, ...envelopeErrors], rows: 0 };

  const batch = Array.isArray(data);
  const candidates: unknown[] = batch ? data : [data];
  if (batch && (candidates.length === 0 || candidates.length > MAX_RECORDS_PER_INSERT)) {
    const sizeError = { field: 'data', message: `must hold between 1 and ${MAX_RECORDS_PER_INSERT} records, got ${candidates.length}` };
    return { ok: false, errors: [sizeError, ...envelopeErrors], rows: candidates.length };
  }

  const records: IngestRecord[] = [];
  const errors: FieldError[] = [...envelopeErrors];
  candidates.forEach((candidate, index) => {
    const parsed = parseRecord(candidate, batch ? `data[${index}]` : 'data');
    if (parsed.ok) records.push(parsed.record);
    else errors.push(...parsed.errors);
  });
  if (errors.length > 0) return { ok: false, errors, rows: candidates.length };
  return { ok: true, records, batch };
}
