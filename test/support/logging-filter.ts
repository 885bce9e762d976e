/**
 * An evaluator for the part of the Cloud Logging query language the
 * log-based metrics use, so a test can check a metric's filter against the
 * log lines the functions really write:
 *
 *   comparisons  field = value, field != value, field =~ "regex", field !~ "regex",
 *                field : value (has: case-insensitive substring), field:* (present)
 *   logic        AND (or juxtaposition), OR, NOT / leading "-", parentheses
 *   precedence   NOT, then OR, then AND, as Cloud Logging defines it
 *                ("a OR b AND c" is "(a OR b) AND c")
 *   fields       dotted paths; a segment may be quoted: labels."k8s-pod/app"
 *   values       "quoted" (JSON escapes) or bare words; numbers compare as numbers
 *
 * Anything outside the subset is a parse error, never a silent mismatch.
 * `toLogEntry` turns a stdout line into the LogEntry Cloud Logging makes of it.
 */

export type LogEntry = Record<string, unknown>;

type Operator = '=' | '!=' | '=~' | '!~' | ':';

type FilterNode =
  | { kind: 'and' | 'or'; terms: FilterNode[] }
  | { kind: 'not'; term: FilterNode }
  | { kind: 'compare'; path: string[]; op: Operator; value: string; present: boolean };

type Token =
  | { kind: 'word'; text: string }
  | { kind: 'string'; text: string }
  | { kind: 'op'; text: Operator }
  | { kind: 'dot' | 'lparen' | 'rparen' | 'minus' | 'star' };

const WORD_START = /[A-Za-z0-9_@/+]/;
const WORD_CHAR = /[A-Za-z0-9_@/+-]/;

function tokenize(filter: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < filter.length) {
    const c = filter[i];
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === '"') {
      let j = i + 1;
      while (j < filter.length && filter[j] !== '"') j += filter[j] === '\\' ? 2 : 1;
      if (j >= filter.length) throw new Error(`unterminated string at ${i} in: ${filter}`);
      tokens.push({ kind: 'string', text: JSON.parse(filter.slice(i, j + 1)) as string });
      i = j + 1;
    } else if (filter.startsWith('!=', i) || filter.startsWith('=~', i) || filter.startsWith('!~', i)) {
      tokens.push({ kind: 'op', text: filter.slice(i, i + 2) as Operator });
      i += 2;
    } else if (c === '=' || c === ':') {
      tokens.push({ kind: 'op', text: c });
      i += 1;
    } else if (c === '.' || c === '(' || c === ')' || c === '*') {
      tokens.push({ kind: c === '.' ? 'dot' : c === '(' ? 'lparen' : c === ')' ? 'rparen' : 'star' });
      i += 1;
    } else if (c === '-' && (i === 0 || /[\s(]/.test(filter[i - 1]))) {
      tokens.push({ kind: 'minus' });
      i += 1;
    } else if (WORD_START.test(c)) {
      let j = i;
      while (j < filter.length && WORD_CHAR.test(filter[j])) j += 1;
      tokens.push({ kind: 'word', text: filter.slice(i, j) });
      i = j;
    } else {
      throw new Error(`unsupported character ${JSON.stringify(c)} at ${i} in: ${filter}`);
    }
  }
  return tokens;
}

class Parser {
  private position = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly source: string,
  ) {}

  parse(): FilterNode {
    const node = this.conjunction();
    if (this.position < this.tokens.length) this.fail('unexpected trailing input');
    return node;
  }

  // AND binds loosest; two terms side by side are an implicit AND.
  private conjunction(): FilterNode {
    const terms = [this.disjunction()];
    while (this.position < this.tokens.length && this.peek().kind !== 'rparen') {
      if (this.isKeyword('AND')) this.position += 1;
      terms.push(this.disjunction());
    }
    return terms.length === 1 ? terms[0] : { kind: 'and', terms };
  }

  private disjunction(): FilterNode {
    const terms = [this.negation()];
    while (this.isKeyword('OR')) {
      this.position += 1;
      terms.push(this.negation());
    }
    return terms.length === 1 ? terms[0] : { kind: 'or', terms };
  }

  private negation(): FilterNode {
    if (this.isKeyword('NOT') || this.peek()?.kind === 'minus') {
      this.position += 1;
      return { kind: 'not', term: this.primary() };
    }
    return this.primary();
  }

  private primary(): FilterNode {
    if (this.peek()?.kind === 'lparen') {
      this.position += 1;
      const inner = this.conjunction();
      this.expect('rparen');
      return inner;
    }
    return this.comparison();
  }

  private comparison(): FilterNode {
    const path = [this.segment()];
    while (this.peek()?.kind === 'dot') {
      this.position += 1;
      path.push(this.segment());
    }
    const op = this.next();
    if (op?.kind !== 'op') this.fail(`expected an operator after ${path.join('.')}`);
    const operator = (op as { text: Operator }).text;
    const value = this.next();
    if (value?.kind === 'star') {
      if (operator !== ':') this.fail('* is only supported as field:*');
      return { kind: 'compare', path, op: operator, value: '', present: true };
    }
    if (value?.kind !== 'word' && value?.kind !== 'string') this.fail(`expected a value after ${path.join('.')}${operator}`);
    return { kind: 'compare', path, op: operator, value: (value as { text: string }).text, present: false };
  }

  private segment(): string {
    const token = this.next();
    if (token?.kind === 'word' || token?.kind === 'string') return token.text;
    return this.fail('expected a field name');
  }

  private isKeyword(word: 'AND' | 'OR' | 'NOT'): boolean {
    const token = this.peek();
    return token?.kind === 'word' && token.text === word;
  }

  private peek(): Token {
    return this.tokens[this.position];
  }

  private next(): Token | undefined {
    const token = this.tokens[this.position];
    this.position += 1;
    return token;
  }

  private expect(kind: Token['kind']): void {
    if (this.next()?.kind !== kind) this.fail(`expected ${kind}`);
  }

  private fail(message: string): never {
    throw new Error(`${message} (token ${this.position}) in: ${this.source}`);
  }
}

/** Parses a filter; throws on anything outside the supported subset. */
export function parseLogFilter(filter: string): FilterNode {
  return new Parser(tokenize(filter), filter).parse();
}

/** The value at a dotted path of a LogEntry, or undefined. */
export function valueAt(entry: LogEntry, path: readonly string[]): unknown {
  let current: unknown = entry;
  for (const key of path) {
    if (current === null || typeof current !== 'object' || !(key in current)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function equals(actual: unknown, expected: string): boolean {
  if (typeof actual === 'number' && expected.trim() !== '' && Number.isFinite(Number(expected))) return actual === Number(expected);
  return scalarText(actual) === expected;
}

function evaluate(node: FilterNode, entry: LogEntry): boolean {
  switch (node.kind) {
    case 'and':
      return node.terms.every((term) => evaluate(term, entry));
    case 'or':
      return node.terms.some((term) => evaluate(term, entry));
    case 'not':
      return !evaluate(node.term, entry);
    case 'compare': {
      const actual = valueAt(entry, node.path);
      if (node.present) return actual !== undefined && actual !== null;
      switch (node.op) {
        case '=':
          return equals(actual, node.value);
        case '!=':
          return !equals(actual, node.value);
        case '=~':
        case '!~': {
          const text = scalarText(actual);
          const found = text !== undefined && new RegExp(node.value).test(text);
          return node.op === '=~' ? found : !found;
        }
        case ':': {
          const text = scalarText(actual);
          return text !== undefined && text.toLowerCase().includes(node.value.toLowerCase());
        }
      }
    }
  }
}

/** Whether `entry` matches the Cloud Logging `filter`. */
export function matchesLogFilter(filter: string, entry: LogEntry): boolean {
  return evaluate(parseLogFilter(filter), entry);
}

/**
 * A log-based metric's `EXTRACT(field.path)` extractor applied to an entry
 * (the only extractor form the metrics use); undefined when the field is absent.
 */
export function applyExtractor(extractor: string, entry: LogEntry): unknown {
  const match = /^EXTRACT\(([A-Za-z0-9_.]+)\)$/.exec(extractor);
  if (match === null) throw new Error(`unsupported extractor: ${extractor}`);
  return valueAt(entry, match[1].split('.'));
}

/** The monitored resource a line was written under. */
export interface LogResource {
  type: string;
  labels: Record<string, string>;
}

/** Top-level keys of a structured stdout line that Cloud Logging moves into LogEntry fields. */
const LIFTED_FIELDS: Record<string, string> = {
  severity: 'severity',
  httpRequest: 'httpRequest',
  'logging.googleapis.com/trace': 'trace',
  'logging.googleapis.com/spanId': 'spanId',
  'logging.googleapis.com/trace_sampled': 'traceSampled',
  'logging.googleapis.com/labels': 'labels',
  'logging.googleapis.com/insertId': 'insertId',
  'logging.googleapis.com/operation': 'operation',
  'logging.googleapis.com/sourceLocation': 'sourceLocation',
};

/**
 * The LogEntry Cloud Logging builds from one JSON line a Cloud Run / Cloud
 * Functions container wrote to stdout: special keys become entry fields,
 * everything else (including `message`) is `jsonPayload`.
 */
export function toLogEntry(line: string, resource: LogResource): LogEntry {
  const parsed: unknown = JSON.parse(line);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`not a JSON object line: ${line}`);
  const entry: LogEntry = { resource, severity: 'DEFAULT' };
  const jsonPayload: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (key in LIFTED_FIELDS) entry[LIFTED_FIELDS[key]] = value;
    else jsonPayload[key] = value;
  }
  entry.jsonPayload = jsonPayload;
  return entry;
}
