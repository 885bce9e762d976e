/**
 * The one rule for e-mail addresses this library and its stacks accept (alert
 * destinations): well formed, and not at a domain reserved for examples and
 * tests, where no mail is ever delivered and a page would reach nobody.
 */

const EMAIL = /^[^@\s"<>]+@[^@\s"<>]+\.[^@\s"<>]+$/;

/** Domains reserved by RFC 2606 and RFC 6761, with every subdomain. */
const RESERVED_DOMAINS = ['example.com', 'example.net', 'example.org'] as const;
/** Top-level names reserved by RFC 2606 and RFC 6761. */
const RESERVED_TOP_LEVEL_DOMAINS = ['example', 'test', 'invalid', 'localhost'] as const;

/** Whether `domain` (e.g. `mail.example.com`) is reserved and never receives mail. */
export function isReservedDomain(domain: string): boolean {
  const name = domain.toLowerCase().replace(/\.$/, '');
  const topLevel = name.slice(name.lastIndexOf('.') + 1);
  return (
    (RESERVED_TOP_LEVEL_DOMAINS as readonly string[]).includes(topLevel) ||
    RESERVED_DOMAINS.some((reserved) => name === reserved || name.endsWith(`.${reserved}`))
  );
}

/** Why `address` cannot receive alerts (to follow the address in a message), or undefined when it can. */
export function emailAddressProblem(address: unknown): string | undefined {
  if (typeof address !== 'string' || !EMAIL.test(address)) return 'is not an e-mail address';
  const domain = address.slice(address.lastIndexOf('@') + 1);
  if (isReservedDomain(domain)) return `is at ${domain}, a domain reserved for examples where no mail is ever delivered`;
  return undefined;
}
