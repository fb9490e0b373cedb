import type { Request } from 'express';
import type { SqlParam } from '../platform/db/db.js';
import { ProblemError } from '../platform/errors.js';
import type { Principal } from './policy.js';
import type { AuditActor } from '../audit/index.js';

/**
 * Who reads: resolved once per request (or socket) from the authenticated principal and passed
 * down to the repositories, whose queries apply the site scope and export control through
 * `visibleSql`. A read path that takes a `Viewer` cannot forget either.
 */
export interface Viewer {
  kind: 'user' | 'api-token';
  tenantId: string;
  /** user id, or "api-token" */
  id: string;
  /** Site ids the caller is limited to; null for every site of the tenant. */
  sites: readonly string[] | null;
  /** Cleared for export-controlled (ITAR/EAR) data: a user marked as a US person (API tokens never are). */
  cleared: boolean;
}

/**
 * Who acts: the request's `Viewer` plus what the audit trail records of the request, the actor
 * and the caller's address. Services that change data and audit it take one (`callerOf(req)`).
 */
export type Caller = Viewer & {
  actor: AuditActor;
  address: string | null;
};

export function viewerOfPrincipal(p: Principal): Viewer {
  return {
    kind: p.kind,
    tenantId: p.tenantId,
    id: p.id,
    sites: p.sites,
    cleared: p.kind === 'user' && p.usPerson === true,
  };
}

/** The request's viewer (after authentication). */
export function viewerOf(req: Request): Viewer {
  if (!req.principal) throw new ProblemError('CLOUD_UNAUTHENTICATED');
  return viewerOfPrincipal(req.principal);
}

/**
 * The reader with the least access in a tenant: every site, nothing export-controlled. What
 * leaves the tenant without a signed-in reader (reminder webhooks, digest e-mails to addresses
 * of no cleared user) is read as it.
 */
export const uncleared = (tenantId: string): Viewer => ({
  kind: 'api-token',
  tenantId,
  id: 'system',
  sites: null,
  cleared: false,
});

/**
 * The whole tenant, every site, export-controlled data included: the product's own work that no
 * reader asked for (deriving calibrations after a batch is stored, recounting a site's due dates,
 * writes checking what exists), and the signed log read whole for its integrity (ingest's leaf
 * hashes and checkpoints, log verification, the leaves an inclusion proof is computed from: a
 * proof needs every leaf; the records a person's proof request serves are read as that person).
 * Never a request's reader: a route reads as `viewerOf(req)`.
 */
export const wholeTenant = (tenantId: string): Viewer => ({
  kind: 'api-token',
  tenantId,
  id: 'system',
  sites: null,
  cleared: true,
});

/** Whether the viewer's site scope covers `siteId` (null: a tenant-wide row, seen by every viewer). */
export function viewerSees(v: Pick<Viewer, 'sites'>, siteId: string | null): boolean {
  return siteId === null || v.sites === null || v.sites.includes(siteId);
}

/**
 * The scope predicate's in-memory twin, for a register entry already read (a write checking what
 * it may change): of the viewer's sites, and not export-controlled unless the viewer is cleared.
 */
export function viewerSeesEquipment(
  v: Pick<Viewer, 'sites' | 'cleared'>,
  e: { site_id: string; export_regime: string | null },
): boolean {
  return viewerSees(v, e.site_id) && (e.export_regime === null || v.cleared);
}

/**
 * The one scope predicate: a WHERE condition (and its parameters) keeping only the rows `v` may
 * see. `site`, the column holding the row's site (a NULL site is tenant-wide, seen by all, when
 * `siteNullable`); `tag`, the column holding the equipment tag whose export-control flag the row
 * inherits; `regime`, instead of `tag` when the row is the equipment's own register entry, its
 * `export_regime` column; `everySite`, when the rows concern the whole tenant and no one site
 * (API tokens, the audit log, security events): only a reader of every site sees them. Uncleared
 * viewers never see a row of flagged equipment. The tenant is the caller's own `tenant_id = ?`
 * (every query leads with it, for its index).
 */
export function visibleSql(
  v: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>,
  cols: { site?: string; siteNullable?: boolean; tag?: string; regime?: string; everySite?: boolean },
): { sql: string; params: SqlParam[] } {
  const parts: string[] = [];
  const params: SqlParam[] = [];
  if (cols.everySite && v.sites !== null) parts.push('1 = 0');
  if (cols.site && v.sites !== null) {
    const inList = v.sites.length ? `${cols.site} IN (${v.sites.map(() => '?').join(',')})` : '1 = 0';
    parts.push(cols.siteNullable ? `(${cols.site} IS NULL OR ${inList})` : inList);
    params.push(...v.sites);
  }
  if (cols.regime && !v.cleared) parts.push(`${cols.regime} IS NULL`);
  else if (cols.tag && !v.cleared) {
    parts.push(
      `NOT EXISTS (SELECT 1 FROM equipment xc WHERE xc.tenant_id = ? AND xc.tag = ${cols.tag} AND xc.export_regime IS NOT NULL)`,
    );
    params.push(v.tenantId);
  }
  return { sql: parts.length ? parts.join(' AND ') : '1 = 1', params };
}
