/**
 * Roles and what each may do. Deny by default: a route names the one permission it needs, and
 * a role holds only the permissions listed here. ACCOUNTS.md has the same table in prose and
 * test/roles.test.ts walks every route with every role against its own copy of the expectations.
 */
export const ROLES = ['admin', 'manager', 'technician', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  /** edges and records of the caller's sites */
  'records:read',
  /** offline-verifiable evidence bundles */
  'evidence:read',
  /** the audit log, its verification and its export */
  'audit:read',
  /** users, roles, password resets, the tenant's security policy */
  'users:manage',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const ROLE_PERMISSIONS: Readonly<Record<Role, ReadonlySet<Permission>>> = {
  admin: new Set(['records:read', 'evidence:read', 'audit:read', 'users:manage']),
  manager: new Set(['records:read', 'evidence:read']),
  technician: new Set(['records:read']),
  auditor: new Set(['records:read', 'evidence:read', 'audit:read']),
};

/**
 * API tokens act as a read-only service account of their tenant with the auditor's rights:
 * they keep reading edges, records and evidence as before and can pull the audit log for a
 * SIEM, but cannot manage users or change anything.
 */
export const API_TOKEN_ROLE: Role = 'auditor';

/** Who is calling: a signed-in user (through a session cookie) or an API token. */
export interface Principal {
  kind: 'user' | 'api-token';
  tenantId: string;
  /** user id, or "api-token" */
  id: string;
  email?: string;
  role: Role;
  /** Site ids the caller is limited to; null for every site of the tenant. */
  sites: readonly string[] | null;
}

export function can(p: Principal, permission: Permission): boolean {
  return ROLE_PERMISSIONS[p.role].has(permission);
}

export function seesSite(p: Principal, siteId: string): boolean {
  return p.sites === null || p.sites.includes(siteId);
}

export function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}
