import type { Role } from './types.js';

export type PageName =
  | 'board'
  | 'record'
  | 'approvals'
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
  | 'clauses';

export interface NavItem {
  page: PageName;
  label: string;
  href: string;
}

const ITEMS: Record<PageName, { label: string; href: string; roles: readonly Role[] }> = {
  board: { label: 'Calibration', href: '#/', roles: ['admin', 'manager', 'technician', 'auditor'] },
  record: { label: 'Record calibration', href: '#/calibrations/new', roles: ['admin', 'technician'] },
  approvals: { label: 'Approvals', href: '#/calibrations/approvals', roles: ['admin', 'technician'] },
  live: { label: 'Live', href: '#/live', roles: ['admin', 'manager', 'technician', 'auditor'] },
  spc: { label: 'SPC', href: '#/spc', roles: ['admin', 'manager', 'technician', 'auditor'] },
  sites: { label: 'Sites', href: '#/admin/sites', roles: ['admin'] },
  edges: { label: 'Edges', href: '#/admin/edges', roles: ['admin'] },
  users: { label: 'Users', href: '#/admin/users', roles: ['admin'] },
  security: { label: 'MFA policy', href: '#/admin/security', roles: ['admin'] },
  'api-tokens': { label: 'API tokens', href: '#/admin/api-tokens', roles: ['admin'] },
  audit: { label: 'Audit log', href: '#/audit', roles: ['admin', 'auditor'] },
  reports: { label: 'Reports', href: '#/reports', roles: ['admin', 'auditor'] },
  clauses: { label: 'Clause map', href: '#/compliance', roles: ['admin', 'auditor'] },
  account: { label: 'My account', href: '#/account', roles: ['admin', 'manager', 'technician', 'auditor'] },
};

/** What a role may open: the API refuses the rest anyway, the menu just does not offer it. */
export function navFor(role: Role): NavItem[] {
  return (Object.keys(ITEMS) as PageName[])
    .filter((p) => ITEMS[p].roles.includes(role))
    .map((p) => ({ page: p, label: ITEMS[p].label, href: ITEMS[p].href }));
}

export function mayOpen(role: Role, page: PageName): boolean {
  return ITEMS[page].roles.includes(role);
}
