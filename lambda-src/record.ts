/**
 * The one definition of an ingest record. The runtime validator, the
 * TypeScript type and the BigQuery column list all come from `RecordSchema`,
 * so a field added here reaches the API, the warehouse and the table schema
 * together.
 *
 * Valibot was chosen over TypeBox's compiled validators and a hand-written
 * check: its modular functions tree-shake to a few KB in the function bundle
 * (TypeBox's compiler pulls in its whole value system), it needs no
 * `new Function` at cold start, and its schema objects carry enough metadata
 * (type, max length, description) to derive the BigQuery schema from.
 */
import * as v from 'valibot';
import { ID_MAX_LENGTH, NAME_MAX_LENGTH } from './rules/limits';

/**
 * Text a warehouse can store: a JSON `\ud800` escape parses to a lone UTF-16
 * surrogate, which UTF-8 (BigQuery's and DuckDB's encoding) cannot represent.
 */
export const isStorableText = (text: string): boolean => text.isWellFormed();
const storableText = v.check(isStorableText, 'must be well-formed Unicode (an unpaired \\ud800-\\udfff escape is not)');

export const RecordSchema = v.strictObject({
  id: v.pipe(
    v.string(),
    v.minLength(1, 'must be a non-empty string'),
    v.maxLength(ID_MAX_LENGTH, `must be at most ${ID_MAX_LENGTH} characters`),
    storableText,
    v.description('Producer-assigned record identifier; versions of one record share it.'),
  ),
  name: v.pipe(
    v.string(),
    v.maxLength(NAME_MAX_LENGTH, `must be at most ${NAME_MAX_LENGTH} characters`),
    storableText,
    v.description('Human-readable name of the record.'),
  ),
  value: v.pipe(v.number(), v.finite('must be a finite number'), v.description('Numeric measurement.')),
});

export type IngestRecord = v.InferOutput<typeof RecordSchema>;

/** One reason a record was refused, in the `details` array of a 400 answer. */
export interface FieldError {
  /** Dotted path of the offending field from the request body, e.g. `data.value` or `data[3].id`. */
  field: string;
  /** Why it was refused, for a human. */
  message: string;
}

export type RecordParseResult =
  | { ok: true; record: IngestRecord }
  | { ok: false; errors: FieldError[] };

function describeIssue(issue: v.BaseIssue<unknown>): string {
  if (issue.kind !== 'schema') return issue.message;
  if (issue.type === 'strict_object' && issue.expected === 'never') return 'unknown field';
  if (issue.received === 'undefined') return 'is required';
  const expected = issue.expected === 'Object' ? 'an object' : `a ${issue.expected}`;
  return `must be ${expected}`;
}

/**
 * Validates one candidate record. `fieldPrefix` names where it sat in the
 * request (`data`, `data[2]`) so each error points at the exact field.
 */
export function parseRecord(input: unknown, fieldPrefix = 'data'): RecordParseResult {
  const result = v.safeParse(RecordSchema, input);
  if (result.success) return { ok: true, record: result.output };
  const errors = result.issues.map((issue) => {
    const path = v.getDotPath(issue);
    return { field: path ? `${fieldPrefix}.${path}` : fieldPrefix, message: describeIssue(issue) };
  });
  return { ok: false, errors };
}

/** A column in BigQuery's REST `TableFieldSchema` shape (what `google_bigquery_table.schema` takes as JSON). */
export interface BigQueryField {
  name: string;
  type: 'STRING' | 'FLOAT' | 'TIMESTAMP';
  mode: 'REQUIRED' | 'NULLABLE';
  description: string;
  maxLength?: string;
}

function bigQueryType(schemaType: string): BigQueryField['type'] {
  if (schemaType === 'string') return 'STRING';
  if (schemaType === 'number') return 'FLOAT';
  throw new Error(`record field type '${schemaType}' has no BigQuery mapping`);
}

function recordFields(): BigQueryField[] {
  return Object.entries(RecordSchema.entries).map(([name, schema]) => {
    const field: BigQueryField = {
      name,
      type: bigQueryType(schema.type),
      mode: 'REQUIRED',
      description: v.getDescription(schema) ?? '',
    };
    const maxLength = schema.pipe.find((item) => item.type === 'max_length');
    if (maxLength && 'requirement' in maxLength) field.maxLength = String(maxLength.requirement);
    return field;
  });
}

/** The record's own columns, in schema order. */
export const RECORD_BIGQUERY_FIELDS: readonly BigQueryField[] = recordFields();

/** Columns the pipeline adds to every stored row. */
export const INGESTION_BIGQUERY_FIELDS: readonly BigQueryField[] = [
  {
    name: 'insert_id',
    type: 'STRING',
    mode: 'REQUIRED',
    description: 'Idempotency key: the Pub/Sub messageId or a per-request id; a repeated insert id stores nothing new.',
  },
  {
    name: 'ingested_at',
    type: 'TIMESTAMP',
    mode: 'REQUIRED',
    description: 'When the pipeline accepted the row; orders versions of one id.',
  },
];

/** Full column list of the warehouse table. */
export const WAREHOUSE_BIGQUERY_FIELDS: readonly BigQueryField[] = [...RECORD_BIGQUERY_FIELDS, ...INGESTION_BIGQUERY_FIELDS];
