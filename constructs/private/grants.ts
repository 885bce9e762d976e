import { Construct, IConstruct } from 'constructs';
import { kebab } from '../../lambda-src/rules/naming';
import { shortHash } from './naming';
import type { Grantee } from '../grantee';

function isConstruct(value: unknown): value is IConstruct {
  return typeof value === 'object' && value !== null && 'node' in value;
}

/** The IAM member string (`serviceAccount:…`, `user:…`, `group:…`) of a grantee. */
export function iamMemberOf(grantee: Grantee): string {
  if (typeof grantee === 'string') return grantee;
  if ('iamMember' in grantee) return grantee.iamMember;
  return grantee.member;
}

/**
 * Adds one IAM binding resource under `scope` for `role` and `grantee`, or
 * returns the one an earlier identical call added: granting twice is a no-op,
 * as it is in IAM. The construct id comes from the role and the grantee's
 * construct path (or member string), so it stays put when unrelated grants
 * are added or removed.
 */
export function grantOnce<T extends IConstruct>(
  scope: Construct,
  role: string,
  grantee: Grantee,
  create: (id: string, member: string) => T,
): T {
  const key = isConstruct(grantee) ? grantee.node.path : iamMemberOf(grantee);
  const id = `${kebab(role.replace(/^roles\//, ''))}-${shortHash(key)}`;
  const existing = scope.node.tryFindChild(id);
  if (existing) return existing as T;
  return create(id, iamMemberOf(grantee));
}
