/**
 * The one media type the functions accept. Only UTF-8 is allowed because it
 * is the only encoding RFC 8259 permits for JSON exchanged between systems;
 * any other parameter is refused rather than ignored, so a client never
 * believes an option it sent was honoured.
 */
const JSON_MEDIA_TYPE = 'application/json';
const UTF8 = 'utf-8';

/** True for `application/json`, optionally with `; charset=utf-8` (any case, optional quotes). */
export function isJsonContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const [mediaType, ...parameters] = header.split(';').map((part) => part.trim());
  if (mediaType.toLowerCase() !== JSON_MEDIA_TYPE) return false;
  return parameters.every((parameter) => {
    if (parameter === '') return true;
    const separator = parameter.indexOf('=');
    if (separator < 0) return false;
    const name = parameter.slice(0, separator).trim().toLowerCase();
    const value = parameter.slice(separator + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
    return name === 'charset' && value === UTF8;
  });
}
