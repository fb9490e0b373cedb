/**
 * Roles and what each may do: the one access table of the cloud. Deny by default: every route
 * names the one permission it needs (`accounts.require(permission)`), and a role holds only the
 * permissions listed here. ACCOUNTS.md has the same table in prose and
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
  /** the caller's sites: their names, edge enrollment tokens, the edges' health and retirement */
  'sites:manage',
  /** the whole tenant: new sites, API tokens, the security policy (never a site-scoped caller) */
  'tenant:manage',
  /** compliance reports (list, download) and the clause map */
  'reports:read',
  /** generating a compliance report (never an API token: see API_TOKEN_WITHHELD) */
  'reports:generate',
  /** the disposition and customer notification of an out-of-tolerance calibration */
  'calibrations:disposition',
  /** register changes, signed manual calibration entries, calibration settings */
  'calibrations:write',
  /** the second person's review of a manual entry: approve, reject, return for correction */
  'calibrations:approve',
  /** maintenance events, preventive-maintenance plans, taking equipment out of and back into service */
  'maintenance:write',
  /** freezing an SPC baseline (it changes what counts as in control) */
  'spc:baseline',
  /** acknowledging an alert (the shop floor's job too) */
  'alerts:acknowledge',
  /** a site's reminder settings (read) */
  'reminders:read',
  /** a site's reminder settings (change) and sending its digest now */
  'reminders:manage',
  /** the reminder delivery log */
  'reminders:deliveries',
  /** the export-access log (names export-controlled objects: never an API token) */
  'export-access:read',
  /**
   * the cloud's tenants as a list (id, name, created, counts) and creating a tenant with its first
   * admin: cloud operators only, never a role of a tenant
   */
  'tenants:operate',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const ROLE_PERMISSIONS: Readonly<Record<Role, ReadonlySet<Permission>>> = {
  admin: new Set([
    'records:read',
    'evidence:read',
    'audit:read',
    'users:manage',
    'sites:manage',
    'tenant:manage',
    'reports:read',
    'reports:generate',
    'calibrations:disposition',
    'calibrations:write',
    'calibrations:approve',
    'maintenance:write',
    'spc:baseline',
    'alerts:acknowledge',
    'reminders:read',
    'reminders:manage',
    'reminders:deliveries',
    'export-access:read',
  ]),
  manager: new Set([
    'records:read',
    'evidence:read',
    'calibrations:disposition',
    'calibrations:approve',
    'maintenance:write',
    'spc:baseline',
    'alerts:acknowledge',
    'reminders:read',
    'reminders:deliveries',
  ]),
  technician: new Set([
    'records:read',
    'calibrations:write',
    'calibrations:approve',
    'maintenance:write',
    'alerts:acknowledge',
  ]),
  auditor: new Set([
    'records:read',
    'evidence:read',
    'audit:read',
    'reports:read',
    'reports:generate',
    'reminders:deliveries',
    'export-access:read',
  ]),
};

/**
 * Permissions an API token never holds, whatever its role: it is a read-only service account,
 * and generating a report is a write (a job, a stored file, audit entries); it is never cleared
 * for export-controlled data, which the export-access log names.
 */
export const API_TOKEN_WITHHELD: ReadonlySet<Permission> = new Set([
  'reports:generate',
  'export-access:read',
]);

/**
 * API tokens act as a read-only service account of their tenant with the auditor's rights:
 * they keep reading edges, records and evidence as before and can pull the audit log for a
 * SIEM, but cannot manage users or change anything.
 */
export const API_TOKEN_ROLE: Role = 'auditor';

/**
 * Cloud operators: the people who run the cloud, not members of any tenant. Their accounts live
 * in a realm of their own, OPERATOR_REALM, which is stored like a tenant (so sign-in, sessions,
 * MFA and the audit trail work as for everyone) but is not one: its id cannot be a tenant id (a
 * tenant id never starts with `_`), it has no sites and no data, and it is never listed. Its
 * accounts have the role `operator` and no other; no tenant account can have it.
 */
export const OPERATOR_REALM = '_operators';
export const OPERATOR_ROLE = 'operator';
/** A role of a tenant, or the operator role of the operator realm. */
export type AccountRole = Role | typeof OPERATOR_ROLE;

/**
 * What an operator may do: list tenants and create one with its first admin. Nothing of a
 * tenant's data (records, equipment, calibrations, users, audit log...): every tenant route
 * answers an operator 403.
 */
export const OPERATOR_PERMISSIONS: ReadonlySet<Permission> = new Set(['tenants:operate']);

/** Whether an account of `tenantId` with `role` is valid: operators only in the operator realm. */
export function isAccountRole(tenantId: string, role: unknown): role is AccountRole {
  return tenantId === OPERATOR_REALM ? role === OPERATOR_ROLE : isRole(role);
}

/** Who is calling: a signed-in user (through a session cookie) or an API token. */
export interface Principal {
  kind: 'user' | 'api-token';
  tenantId: string;
  /** user id, or "api-token" */
  id: string;
  email?: string;
  /** `operator` only for a signed-in cloud operator (tenantId OPERATOR_REALM). */
  role: AccountRole;
  /** Site ids the caller is limited to; null for every site of the tenant. */
  sites: readonly string[] | null;
  /**
   * Cleared for export-controlled (ITAR/EAR) data: a user an admin marked as a US person.
   * Absent or false: not cleared (API tokens never are).
   */
  usPerson?: boolean;
}

/**
 * Permissions over the whole tenant: a caller limited to sites never holds them, whatever its
 * role (a site-scoped admin manages its sites and their users, not the tenant). The audit log is
 * one hash-chained log of every site's actions, so reading it is tenant-wide too.
 */
export const TENANT_WIDE: ReadonlySet<Permission> = new Set(['tenant:manage', 'audit:read']);

export function can(p: Principal, permission: Permission): boolean {
  if (p.role === OPERATOR_ROLE)
    return p.kind === 'user' && p.tenantId === OPERATOR_REALM && OPERATOR_PERMISSIONS.has(permission);
  if (p.tenantId === OPERATOR_REALM) return false;
  if (p.kind === 'api-token' && API_TOKEN_WITHHELD.has(permission)) return false;
  if (p.sites !== null && TENANT_WIDE.has(permission)) return false;
  return ROLE_PERMISSIONS[p.role].has(permission);
}

/** The roles holding `permission`, in ROLES order: what a page says about who may do something. */
export function rolesWith(permission: Permission): Role[] {
  return ROLES.filter((r) => ROLE_PERMISSIONS[r].has(permission));
}

/** The permissions of a principal (an API token's withheld ones left out), in PERMISSIONS order. */
export function permissionsOf(p: Principal): Permission[] {
  return PERMISSIONS.filter((perm) => can(p, perm));
}

export function seesSite(p: Principal, siteId: string): boolean {
  return p.sites === null || p.sites.includes(siteId);
}

export function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}
