import type { Answer } from './answer.js';

/**
 * The portal's pages and the permission each needs, named as in the cloud's access policy
 * (cloud/src/access/policy.ts). What a user may open follows the permissions the cloud gives for
 * their session (GET /auth/session → permissions), so the menu never keeps a second list of roles.
 */
export type PageName =
  | 'board'
  | 'register'
  | 'register-edit'
  | 'procedures'
  | 'record'
  | 'approvals'
  | 'cases'
  | 'sites'
  | 'edges'
  | 'users'
  | 'security'
  | 'api-tokens'
  | 'audit'
  | 'account'
  | 'live'
  | 'spc'
  | 'reports'
  | 'clauses'
  | 'tenants';

/** Permissions of the access policy, as the cloud's session answer names them (GET /auth/session). */
export type Permission = Answer<'/auth/session', 'get'>['permissions'][number];

export interface NavItem {
  page: PageName;
  label: string;
  href: string;
}

/** `null`: any signed-in user (their own account). */
const ITEMS: Record<
  PageName,
  {
    label: string;
    href: string;
    needs: Permission | null;
    /** Not in the menu (opened from another page). */
    hidden?: true;
  }
> = {
  board: { label: 'Calibration', href: '#/', needs: 'records:read' },
  register: { label: 'Register', href: '#/register', needs: 'records:read' },
  procedures: { label: 'Procedures', href: '#/procedures', needs: 'records:read' },
  'register-edit': {
    label: 'Edit the register',
    href: '#/register/new',
    needs: 'calibrations:write',
    hidden: true,
  },
  record: { label: 'Record calibration', href: '#/calibrations/new', needs: 'calibrations:write' },
  approvals: { label: 'Approvals', href: '#/calibrations/approvals', needs: 'calibrations:approve' },
  cases: { label: 'Out of tolerance', href: '#/oot', needs: 'records:read' },
  live: { label: 'Live', href: '#/live', needs: 'records:read' },
  spc: { label: 'SPC', href: '#/spc', needs: 'records:read' },
  sites: { label: 'Sites', href: '#/admin/sites', needs: 'sites:manage' },
  edges: { label: 'Edges', href: '#/admin/edges', needs: 'sites:manage' },
  users: { label: 'Users', href: '#/admin/users', needs: 'users:manage' },
  security: { label: 'MFA policy', href: '#/admin/security', needs: 'users:manage' },
  'api-tokens': { label: 'API tokens', href: '#/admin/api-tokens', needs: 'tenant:manage' },
  audit: { label: 'Audit log', href: '#/audit', needs: 'audit:read' },
  reports: { label: 'Reports', href: '#/reports', needs: 'reports:read' },
  clauses: { label: 'Clause map', href: '#/compliance', needs: 'reports:read' },
  // Cloud operators only (no role of a tenant holds it): the cloud's tenants, and a new one.
  tenants: { label: 'Tenants', href: '#/operator/tenants', needs: 'tenants:operate' },
  account: { label: 'My account', href: '#/account', needs: null },
};

/** What the permissions open: the API refuses the rest anyway, the menu just does not offer it. */
export function navFor(permissions: readonly string[]): NavItem[] {
  return (Object.keys(ITEMS) as PageName[])
    .filter((p) => !ITEMS[p].hidden && mayOpen(permissions, p))
    .map((p) => ({ page: p, label: ITEMS[p].label, href: ITEMS[p].href }));
}

export function mayOpen(permissions: readonly string[], page: PageName): boolean {
  const needs = ITEMS[page].needs;
  return needs === null || permissions.includes(needs);
}

/** "admin", "admin or manager", "admin, manager or technician". */
export function rolesText(roles: readonly string[]): string {
  if (roles.length <= 1) return roles[0] ?? 'nobody';
  return `${roles.slice(0, -1).join(', ')} or ${roles.at(-1)}`;
}
