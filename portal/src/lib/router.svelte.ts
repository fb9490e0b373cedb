/** A tiny hash router: every page has a `#/…` address, so links, reloads and the back button work. */
export type Route =
  | { name: 'board' }
  | { name: 'equipment'; tag: string }
  | { name: 'register' }
  | { name: 'register-edit'; tag: string | null }
  | { name: 'register-import' }
  | { name: 'procedures' }
  | { name: 'record'; tag: string | null; corrects?: string | null }
  | { name: 'approvals' }
  | { name: 'cases' }
  | { name: 'case'; id: string }
  | { name: 'sites' }
  | { name: 'edges' }
  | { name: 'users' }
  | { name: 'security' }
  | { name: 'api-tokens' }
  | { name: 'audit' }
  | { name: 'account' }
  | { name: 'live'; siteId: string | null }
  | { name: 'spc' }
  | { name: 'reports' }
  | { name: 'clauses' }
  | { name: 'tenants' }
  | { name: 'sign-in' };

const FIXED: Record<string, Route> = {
  '/': { name: 'board' },
  '/calibrations/new': { name: 'record', tag: null },
  '/register': { name: 'register' },
  '/register/new': { name: 'register-edit', tag: null },
  '/register/import': { name: 'register-import' },
  '/procedures': { name: 'procedures' },
  '/calibrations/approvals': { name: 'approvals' },
  '/oot': { name: 'cases' },
  '/admin/sites': { name: 'sites' },
  '/admin/edges': { name: 'edges' },
  '/admin/users': { name: 'users' },
  '/admin/security': { name: 'security' },
  '/admin/api-tokens': { name: 'api-tokens' },
  '/audit': { name: 'audit' },
  '/account': { name: 'account' },
  '/sign-in': { name: 'sign-in' },
  '/live': { name: 'live', siteId: null },
  '/spc': { name: 'spc' },
  '/reports': { name: 'reports' },
  '/compliance': { name: 'clauses' },
  '/operator/tenants': { name: 'tenants' },
};

function decode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '') || '/';
  const fixed = FIXED[path];
  if (fixed) return fixed;
  const eq = /^\/equipment\/(.+)$/.exec(path);
  if (eq) {
    const tag = decode(eq[1]!);
    return tag ? { name: 'equipment', tag } : { name: 'board' };
  }
  const edit = /^\/register\/edit\/(.+)$/.exec(path);
  if (edit) {
    const tag = decode(edit[1]!);
    return tag ? { name: 'register-edit', tag } : { name: 'register' };
  }
  const rec = /^\/calibrations\/new\/([^/]+)(?:\/corrects\/([^/]+))?$/.exec(path);
  if (rec) return { name: 'record', tag: decode(rec[1]!), corrects: rec[2] ? decode(rec[2]) : null };
  const oot = /^\/oot\/([^/]+)$/.exec(path);
  if (oot) {
    const id = decode(oot[1]!);
    return id ? { name: 'case', id } : { name: 'cases' };
  }
  const live = /^\/live\/(.+)$/.exec(path);
  if (live) return { name: 'live', siteId: decode(live[1]!) };
  return { name: 'board' };
}

class Router {
  route = $state<Route>(parseRoute(location.hash));

  constructor() {
    window.addEventListener('hashchange', () => {
      this.route = parseRoute(location.hash);
    });
  }
}

export const router = new Router();

export const href = {
  board: '#/',
  equipment: (tag: string) => `#/equipment/${encodeURIComponent(tag)}`,
  record: (tag?: string, corrects?: string) =>
    tag
      ? `#/calibrations/new/${encodeURIComponent(tag)}${corrects ? `/corrects/${encodeURIComponent(corrects)}` : ''}`
      : '#/calibrations/new',
  register: '#/register',
  registerNew: '#/register/new',
  registerImport: '#/register/import',
  procedures: '#/procedures',
  registerEdit: (tag: string) => `#/register/edit/${encodeURIComponent(tag)}`,
  cases: '#/oot',
  case: (id: string) => `#/oot/${encodeURIComponent(id)}`,
  approvals: '#/calibrations/approvals',
  account: '#/account',
  tenants: '#/operator/tenants',
  live: (siteId?: string) => (siteId ? `#/live/${encodeURIComponent(siteId)}` : '#/live'),
};
