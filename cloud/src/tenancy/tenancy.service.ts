import { type Caller, wholeTenant } from '../access/index.js';
import type { AuditEvent, AuditService } from '../audit/index.js';
import type { Db } from '../platform/db/db.js';
import { ProblemError } from '../platform/errors.js';
import type { Witness } from '../platform/witness.js';
import { type RecordsRepository, verifyEdgeLog } from '../records/index.js';
import {
  hashToken,
  tokenId,
  type EdgeRow,
  type SiteRow,
  type TenancyRepository,
} from './tenancy.repository.js';
import { siteShifts, type Shift } from './shifts.js';

/** Site and edge ids, as the admin API accepts them. */
export const TENANCY_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

export type TokenState = 'unused' | 'used' | 'expired' | 'revoked';

/**
 * The tenant's administration: sites, one-time edge enrollment tokens, edges (their health,
 * retiring them, verifying their stored logs) and API tokens. A caller limited to sites sees
 * only those (404 for the others, as for absent ones). Every change is on the audit trail, in
 * the same transaction as the change.
 */
export class TenancyService {
  constructor(
    private readonly deps: {
      db: Db;
      tenancy: TenancyRepository;
      records: RecordsRepository;
      witness: Witness;
      audit: AuditService;
      /** Recomputes the due dates of a site's equipment when its time zone changes. */
      calibration?: { refreshSite(tenantId: string, siteId: string): Promise<void> } | undefined;
    },
  ) {}

  private audit(by: Caller, e: Omit<AuditEvent, 'tenantId' | 'actor' | 'address'>) {
    return this.deps.audit.record({ tenantId: by.tenantId, actor: by.actor, address: by.address, ...e });
  }

  // ---- sites -------------------------------------------------------------------------------

  /** The site `siteId` if it exists and the caller sees it; otherwise 404. */
  async site(by: Caller, siteId: string): Promise<string> {
    if (!TENANCY_ID.test(siteId) || !(await this.deps.tenancy.siteExists(by, siteId)))
      throw new ProblemError('CLOUD_NOT_FOUND', 'no such site');
    return siteId;
  }

  /** The caller's sites, with their edge counts. */
  async listSites(by: Caller): Promise<(SiteRow & { edges: number })[]> {
    return this.deps.tenancy.listSites(by);
  }

  private async siteRow(by: Caller, siteId: string): Promise<SiteRow & { edges: number }> {
    return (await this.deps.tenancy.listSites(by)).find((s) => s.id === siteId)!;
  }

  async createSite(
    by: Caller,
    site: { id: string; name: string; timeZone: string },
  ): Promise<SiteRow & { edges: number }> {
    const t = by.tenantId;
    await this.deps.db.transaction(async () => {
      // Whether the id is taken: by any site of the tenant.
      if (await this.deps.tenancy.siteExists(wholeTenant(t), site.id))
        throw new ProblemError('CLOUD_CONFLICT', `a site ${site.id} exists`);
      await this.deps.tenancy.createSite(t, site.id, site.name, site.timeZone);
      await this.audit(by, {
        action: 'site.create',
        outcome: 'success',
        target: { type: 'site', id: site.id },
        after: { id: site.id, name: site.name, timeZone: site.timeZone },
      });
    });
    return this.siteRow(by, site.id);
  }

  /** Renames a site, changes its time zone (due dates follow) or its shifts (null: the default ones). */
  async updateSite(
    by: Caller,
    siteId: string,
    change: { name?: string | undefined; timeZone?: string | undefined; shifts?: Shift[] | null | undefined },
  ): Promise<SiteRow & { edges: number }> {
    await this.site(by, siteId);
    const t = by.tenantId;
    await this.deps.db.transaction(async () => {
      const before = (await this.deps.tenancy.sites(by, [siteId]))[0]!;
      const shifts =
        change.shifts === undefined
          ? (before.shifts ?? null)
          : change.shifts && JSON.stringify(change.shifts);
      const after = { name: change.name ?? before.name, timeZone: change.timeZone ?? before.time_zone };
      await this.deps.tenancy.updateSite(t, siteId, { ...after, shifts });
      if (after.timeZone !== before.time_zone) await this.deps.calibration?.refreshSite(t, siteId);
      await this.audit(by, {
        action: 'site.update',
        outcome: 'success',
        target: { type: 'site', id: siteId },
        before: { name: before.name, timeZone: before.time_zone, shifts: siteShifts(before.shifts) },
        after: { ...after, shifts: siteShifts(shifts) },
      });
    });
    return this.siteRow(by, siteId);
  }

  // ---- enrollment tokens -------------------------------------------------------------------

  /** A site's enrollment tokens, newest first, each with its state. */
  async listEnrollmentTokens(by: Caller, siteId: string) {
    await this.site(by, siteId);
    const now = new Date().toISOString();
    const rows = await this.deps.tenancy.listEnrollmentTokens(by, siteId);
    return rows.map((t) => {
      const state: TokenState = t.used_at
        ? 'used'
        : t.revoked_at
          ? 'revoked'
          : t.expires_at <= now
            ? 'expired'
            : 'unused';
      return {
        id: tokenId(t.token_hash),
        siteId: t.site_id,
        createdAt: t.created_at,
        expiresAt: t.expires_at,
        usedAt: t.used_at,
        usedByEdge: t.used_by_edge,
        revokedAt: t.revoked_at,
        state,
      };
    });
  }

  /** Revokes an unused enrollment token of a site (id: the first 16 hex digits of its hash). */
  async revokeEnrollmentToken(by: Caller, siteId: string, id: string): Promise<void> {
    await this.site(by, siteId);
    if (!/^[0-9a-f]{16}$/.test(id)) throw new ProblemError('CLOUD_NOT_FOUND', 'no such enrollment token');
    await this.deps.db.transaction(async () => {
      const out = await this.deps.tenancy.revokeEnrollmentToken(
        by.tenantId,
        siteId,
        id,
        new Date().toISOString(),
      );
      if (out === 'missing') throw new ProblemError('CLOUD_NOT_FOUND', 'no such enrollment token');
      if (out === 'used')
        throw new ProblemError(
          'CLOUD_CONFLICT',
          'the token has enrolled an edge already: retire the edge instead',
        );
      if (out === 'revoked-already') throw new ProblemError('CLOUD_CONFLICT', 'the token is revoked already');
      await this.audit(by, {
        action: 'enrollment_token.revoke',
        outcome: 'success',
        target: { type: 'enrollment_token', id },
        after: { siteId },
      });
    });
  }

  /** A one-time enrollment token for a site; the token is returned in clear this once. */
  async createEnrollmentToken(
    by: Caller,
    siteId: string,
    expiresInHours: number,
  ): Promise<{ id: string; token: string; expiresAt: string }> {
    await this.site(by, siteId);
    return this.deps.db.transaction(async () => {
      const t = await this.deps.tenancy.createEnrollmentToken(by.tenantId, siteId, expiresInHours * 3600_000);
      const id = tokenId(hashToken(t.token));
      await this.audit(by, {
        action: 'enrollment_token.create',
        outcome: 'success',
        target: { type: 'enrollment_token', id },
        after: { siteId, expiresAt: t.expiresAt },
      });
      return { ...t, id };
    });
  }

  // ---- edges -------------------------------------------------------------------------------

  /** The caller's edges (of one site when `siteId` is given), each with its records of the last hour. */
  async listEdges(
    by: Caller,
    siteId: string | undefined,
  ): Promise<{ edge: EdgeRow; recordsLastHour: number }[]> {
    const hourAgo = new Date(Date.now() - 3600_000).toISOString();
    const [edges, lastHour] = await Promise.all([
      this.deps.tenancy.listEdges(by, siteId),
      this.deps.records.acceptedSince(by, hourAgo),
    ]);
    return edges.map((edge) => ({ edge, recordsLastHour: lastHour.get(edge.id) ?? 0 }));
  }

  /** An edge the caller sees; otherwise 404. */
  private async edge(by: Caller, edgeId: string): Promise<EdgeRow> {
    const e = await this.deps.tenancy.edgeForTenant(by, edgeId);
    if (!e) throw new ProblemError('CLOUD_NOT_FOUND', 'no such edge');
    return e;
  }

  /** Retires an edge: it may no longer send; its records and checkpoints stay. */
  async retireEdge(by: Caller, edgeId: string): Promise<{ edge: EdgeRow; retiredAt: string }> {
    const e = await this.edge(by, edgeId);
    const at = new Date().toISOString();
    await this.deps.db.transaction(async () => {
      if (!(await this.deps.tenancy.retireEdge(by.tenantId, e.id, at)))
        throw new ProblemError('CLOUD_CONFLICT', `edge ${e.id} is retired already`);
      await this.audit(by, {
        action: 'edge.retire',
        outcome: 'success',
        target: { type: 'edge', id: e.id },
        after: { siteId: e.site_id, name: e.name, retiredAt: at, logSize: e.log_size },
      });
    });
    return { edge: e, retiredAt: at };
  }

  /** Verifies an edge's stored log (records, checkpoints, countersignatures); the run is audited. */
  async verifyEdge(by: Caller, edgeId: string) {
    const e = await this.edge(by, edgeId);
    const result = await this.deps.db.withTenant(e.tenant_id, () =>
      verifyEdgeLog(e, this.deps.records, this.deps.witness),
    );
    await this.audit(by, {
      action: 'edge.verify',
      outcome: result.ok ? 'success' : 'failure',
      target: { type: 'edge', id: e.id },
      detail: result.ok
        ? `${result.verifiedRecords} records and ${result.verifiedCheckpoints} checkpoints verify`
        : `${result.problem.code}: ${result.problem.message}`.slice(0, 2000),
    });
    return result;
  }

  // ---- API tokens --------------------------------------------------------------------------

  /** The tenant's API tokens, newest first (named by id, never shown again). */
  async listApiTokens(by: Caller) {
    const rows = await this.deps.tenancy.listApiTokens(by);
    return rows.map((t) => ({
      id: tokenId(t.token_hash),
      name: t.name,
      createdAt: t.created_at,
      revokedAt: t.revoked_at,
    }));
  }

  /** A new API token; returned in clear this once. */
  async createApiToken(
    by: Caller,
    name: string,
  ): Promise<{ id: string; name: string; token: string; createdAt: string }> {
    const out = await this.deps.db.transaction(async () => {
      const token = await this.deps.tenancy.createApiToken(by.tenantId, name);
      const id = tokenId(hashToken(token));
      await this.audit(by, {
        action: 'api_token.create',
        outcome: 'success',
        target: { type: 'api_token', id },
        after: { name },
      });
      return { id, token };
    });
    const row = (await this.deps.tenancy.listApiTokens(by)).find((x) => tokenId(x.token_hash) === out.id)!;
    return { id: out.id, name: row.name, token: out.token, createdAt: row.created_at };
  }

  /** Revokes an API token (id: the first 16 hex digits of its hash). */
  async revokeApiToken(by: Caller, id: string): Promise<void> {
    if (!/^[0-9a-f]{16}$/.test(id)) throw new ProblemError('CLOUD_NOT_FOUND', 'no such API token');
    await this.deps.db.transaction(async () => {
      if (!(await this.deps.tenancy.revokeApiToken(by.tenantId, id, new Date().toISOString())))
        throw new ProblemError('CLOUD_NOT_FOUND', 'no such API token, or it is already revoked');
      await this.audit(by, {
        action: 'api_token.revoke',
        outcome: 'success',
        target: { type: 'api_token', id },
      });
    });
  }
}
