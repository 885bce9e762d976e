/**
 * Terraform JSON carries some attributes as JSON text of their own
 * (`dashboard_json`, IAM `policy_data`, table `schema`): one long escaped
 * line. Reviews read them as the structures they are.
 */

/** A string attribute that held JSON text, parsed. */
export interface EmbeddedJson {
  readonly embeddedJson: unknown;
}

export function isEmbeddedJson(value: unknown): value is EmbeddedJson {
  return typeof value === 'object' && value !== null && 'embeddedJson' in value && Object.keys(value).length === 1;
}

/** The JSON object or array `text` holds, or undefined when it holds none (plain text, a number, a Terraform reference). */
function parseEmbeddedJson(text: string): unknown {
  const trimmed = text.trim();
  if (!(trimmed.startsWith('{') && trimmed.endsWith('}')) && !(trimmed.startsWith('[') && trimmed.endsWith(']'))) return undefined;
  try {
    const parsed: unknown = JSON.parse(trimmed);
    return typeof parsed === 'object' && parsed !== null ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** `value` with every string that holds a JSON object or array replaced by an {@link EmbeddedJson} of it, at any depth. */
export function expandEmbeddedJson(value: unknown): unknown {
  if (typeof value === 'string') {
    const parsed = parseEmbeddedJson(value);
    return parsed === undefined ? value : { embeddedJson: expandEmbeddedJson(parsed) };
  }
  if (Array.isArray(value)) return value.map(expandEmbeddedJson);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, expandEmbeddedJson(child)]));
  }
  return value;
}
