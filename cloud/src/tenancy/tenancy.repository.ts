import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { visibleSql, wholeTenant, type Viewer } from '../access/index.js';
import type { Db } from '../platform/db/db.js';

/** Who reads: the request's viewer, or `wholeTenant(…)` for the product's own work. */
type Reader = Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>;

export interface EdgeRow {
  tenant_id: string;
  id: string;
  site_id: string;
  name: string;
  public_key: Buffer;
  enrolled_at: string;
  log_size: number;
  log_root: Buffer | null;
  log_range: string;
  last_checkpoint: string | null;
  last_contact_at: string | null;
  /** Records the edge said it still held unsent with its last accepted batch (migration 9). */
  backlog?: number | null;
  backlog_at?: string | null;
  /** An admin retired the edge (migration 41): its key is refused from then on, its records kept. */
  retired_at?: string | null;
}

/** The cloud operators' realm (access/policy.ts OPERATOR_REALM): stored in `tenants`, never listed. */
const OPERATOR_REALM_ID = '_operators';

/** A tenant as the cloud operators' list shows it (migration 70). */
export interface TenantSummaryRow {
  id: string;
  name: string;
  created_at: string;
  sites: number;
  users: number;
  edges: number;
}

/** A site as the portal shows it: its name and the time zone its pages show times in. */
export interface SiteRow {
  id: string;
  name: string;
  time_zone: string;
  created_at: string;
  /** JSON of its shifts (migration 66); null: the default ones. */
  shifts?: string | null;
}

/** True for an IANA time zone this runtime knows ("Europe/Berlin", "UTC"). */
export function isTimeZone(zone: string): boolean {
  if (zone === 'UTC') return true;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone !== undefined;
  } catch {
    return false;
  }
}

/** Enrollment tokens and API tokens are named by the first 16 hex digits of their hash, never by the token. */
export const tokenId = (tokenHash: string): string => tokenHash.slice(0, 16);

/** Tokens are 32 random bytes; only their SHA-256 is stored, so a database leak reveals none. */
export function newToken(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Tenants, sites, edges and the tokens that admit them. The only module that touches those
 * tables. Each statement runs for one tenant (`withTenant`), except three lookups that must
 * find the tenant first (ingest: edge by id; authentication: API token; enrollment: consuming
 * a token). On PostgreSQL those three are SECURITY DEFINER functions, the app role's only way
 * to read across tenants, each returning no more than the tenant it found.
 */
export class TenancyRepository {
  constructor(private readonly db: Db) {}

  async createTenant(id: string, name: string): Promise<void> {
    await this.db.withTenant(id, () =>
      this.db.run('INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)', [
        id,
        name,
        new Date().toISOString(),
      ]),
    );
  }

  /**
   * Every tenant (the operator realm left out) with how many sites, users and edges it has: the
   * cloud operators' list, nothing of a tenant's data. Across tenants, so on PostgreSQL through
   * rt_operator_tenants (SECURITY DEFINER, migration 70); never called inside a tenant's scope.
   */
  async tenantSummaries(): Promise<TenantSummaryRow[]> {
    const rows = await this.db.all<TenantSummaryRow>(
      this.db.dialect === 'postgres'
        ? 'SELECT id, name, created_at, sites, users, edges FROM rt_operator_tenants()'
        : `SELECT t.id, t.name, t.created_at,
                  (SELECT count(*) FROM sites s WHERE s.tenant_id = t.id) AS sites,
                  (SELECT count(*) FROM users u WHERE u.tenant_id = t.id) AS users,
                  (SELECT count(*) FROM edges e WHERE e.tenant_id = t.id) AS edges
             FROM tenants t WHERE t.id <> ? ORDER BY t.created_at, t.id`,
      this.db.dialect === 'postgres' ? [] : [OPERATOR_REALM_ID],
    );
    return rows.map((r) => ({
      ...r,
      sites: Number(r.sites),
      users: Number(r.users),
      edges: Number(r.edges),
    }));
  }

  async tenantExists(id: string): Promise<boolean> {
    const row = await this.db.withTenant(id, () =>
      this.db.get('SELECT 1 AS x FROM tenants WHERE id = ?', [id]),
    );
    return row !== undefined;
  }

  async createSite(tenantId: string, id: string, name: string, timeZone = 'UTC'): Promise<void> {
    await this.db.withTenant(tenantId, () =>
      this.db.run('INSERT INTO sites (tenant_id, id, name, created_at, time_zone) VALUES (?, ?, ?, ?, ?)', [
        tenantId,
        id,
        name,
        new Date().toISOString(),
        timeZone,
      ]),
    );
  }

  /** Renames a site or changes its time zone or shifts (JSON, null: the default); false when there is no such site. */
  async updateSite(
    tenantId: string,
    id: string,
    s: { name: string; timeZone: string; shifts: string | null },
  ): Promise<boolean> {
    const r = await this.db.withTenant(tenantId, () =>
      this.db.run('UPDATE sites SET name = ?, time_zone = ?, shifts = ? WHERE tenant_id = ? AND id = ?', [
        s.name,
        s.timeZone,
        s.shifts,
        tenantId,
        id,
      ]),
    );
    return r.changes === 1;
  }

  /** The sites `v` sees (of those, only `ids` when given), by id. */
  async sites(v: Reader, ids?: readonly string[]): Promise<SiteRow[]> {
    if (ids !== undefined && ids.length === 0) return [];
    const scope = visibleSql(v, { site: 'id' });
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<SiteRow>(
        `SELECT id, name, time_zone, created_at, shifts FROM sites WHERE tenant_id = ? AND ${scope.sql}${
          ids === undefined ? '' : ` AND id IN (${ids.map(() => '?').join(',')})`
        } ORDER BY id`,
        [v.tenantId, ...scope.params, ...(ids ?? [])],
      ),
    );
  }

  /** Whether the site exists and `v` sees it. */
  async siteExists(v: Reader, id: string): Promise<boolean> {
    const scope = visibleSql(v, { site: 'id' });
    const row = await this.db.withTenant(v.tenantId, () =>
      this.db.get(`SELECT 1 AS x FROM sites WHERE tenant_id = ? AND id = ? AND ${scope.sql}`, [
        v.tenantId,
        id,
        ...scope.params,
      ]),
    );
    return row !== undefined;
  }

  /** A one-time token that enrolls one edge into a site; returned in clear once. */
  async createEnrollmentToken(
    tenantId: string,
    siteId: string,
    ttlMs: number,
  ): Promise<{ token: string; expiresAt: string }> {
    const token = newToken('rt_enr_');
    const now = new Date();
    const expiresAt = new Date(now.getTime() + ttlMs).toISOString();
    await this.db.withTenant(tenantId, () =>
      this.db.run(
        'INSERT INTO enrollment_tokens (token_hash, tenant_id, site_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
        [hashToken(token), tenantId, siteId, now.toISOString(), expiresAt],
      ),
    );
    return { token, expiresAt };
  }

  /**
   * Marks the token used by `edgeId` if it is unused and unexpired, in one statement (so two
   * processes racing for one token cannot both win); returns its tenant and site. Cross-tenant.
   */
  async consumeEnrollmentToken(
    token: string,
    edgeId: string,
  ): Promise<{ tenant_id: string; site_id: string } | undefined> {
    const now = new Date().toISOString();
    return this.db.get<{ tenant_id: string; site_id: string }>(
      this.db.dialect === 'postgres'
        ? 'SELECT tenant_id, site_id FROM rt_consume_enrollment_token(?, ?, ?)'
        : 'UPDATE enrollment_tokens SET used_at = ?3, used_by_edge = ?2 WHERE token_hash = ?1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?3 RETURNING tenant_id, site_id',
      [hashToken(token), edgeId, now],
    );
  }

  async createApiToken(tenantId: string, name: string): Promise<string> {
    const token = newToken('rt_api_');
    await this.db.withTenant(tenantId, () =>
      this.db.run('INSERT INTO api_tokens (token_hash, tenant_id, name, created_at) VALUES (?, ?, ?, ?)', [
        hashToken(token),
        tenantId,
        name,
        new Date().toISOString(),
      ]),
    );
    return token;
  }

  /** The tenant an unrevoked API token belongs to. Cross-tenant: it is how a request finds its tenant. */
  async tenantForApiToken(token: string): Promise<string | undefined> {
    const row = await this.db.get<{ tenant_id: string }>(
      this.db.dialect === 'postgres'
        ? 'SELECT tenant_id FROM rt_api_token_tenant(?)'
        : 'SELECT tenant_id FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL',
      [hashToken(token)],
    );
    return row?.tenant_id;
  }

  newEdgeId(): string {
    return randomUUID();
  }

  async createEdge(e: {
    tenantId: string;
    id: string;
    siteId: string;
    name: string;
    publicKey: Uint8Array;
  }): Promise<void> {
    await this.db.withTenant(e.tenantId, () =>
      this.db.run(
        'INSERT INTO edges (tenant_id, id, site_id, name, public_key, enrolled_at) VALUES (?, ?, ?, ?, ?, ?)',
        [e.tenantId, e.id, e.siteId, e.name, Buffer.from(e.publicKey), new Date().toISOString()],
      ),
    );
  }

  /** Looks an edge up by id alone: only for ingest, where the edge proves itself by signature. */
  async edgeById(id: string): Promise<EdgeRow | undefined> {
    const row = await this.db.get<{ tenant_id: string }>(
      this.db.dialect === 'postgres'
        ? 'SELECT tenant_id FROM rt_edge_tenant(?)'
        : 'SELECT tenant_id FROM edges WHERE id = ?',
      [id],
    );
    return row ? this.edgeForTenant(wholeTenant(row.tenant_id), id) : undefined;
  }

  /**
   * The edge's row, locked until the surrounding transaction ends, so that two cloud processes
   * ingesting for one edge take turns (SELECT … FOR UPDATE; on SQLite, BEGIN IMMEDIATE already
   * holds the database's write lock). Call inside a transaction.
   */
  async lockEdge(v: Reader, id: string): Promise<EdgeRow | undefined> {
    const lock = this.db.dialect === 'postgres' ? ' FOR UPDATE' : '';
    const scope = visibleSql(v, { site: 'site_id' });
    return this.db.withTenant(v.tenantId, () =>
      this.db.get<EdgeRow>(`SELECT * FROM edges WHERE tenant_id = ? AND id = ? AND ${scope.sql}${lock}`, [
        v.tenantId,
        id,
        ...scope.params,
      ]),
    );
  }

  /** The edge, if `v` sees its site. */
  async edgeForTenant(v: Reader, id: string): Promise<EdgeRow | undefined> {
    const scope = visibleSql(v, { site: 'site_id' });
    return this.db.withTenantStatement(v.tenantId, () =>
      this.db.get<EdgeRow>(`SELECT * FROM edges WHERE tenant_id = ? AND id = ? AND ${scope.sql}`, [
        v.tenantId,
        id,
        ...scope.params,
      ]),
    );
  }

  /** The edges of the sites `v` sees (of one site when `siteId` is given), oldest enrolment first. */
  async listEdges(v: Reader, siteId?: string): Promise<EdgeRow[]> {
    const scope = visibleSql(v, { site: 'site_id' });
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<EdgeRow>(
        `SELECT * FROM edges WHERE tenant_id = ? AND ${scope.sql}${
          siteId === undefined ? '' : ' AND site_id = ?'
        } ORDER BY enrolled_at`,
        [v.tenantId, ...scope.params, ...(siteId === undefined ? [] : [siteId])],
      ),
    );
  }

  // ---- the admin API (tenancy.service.ts) ----

  /** The sites `v` sees, with how many edges each has. */
  async listSites(v: Reader): Promise<(SiteRow & { edges: number })[]> {
    const scope = visibleSql(v, { site: 's.id' });
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<SiteRow & { edges: number }>(
        `SELECT s.id, s.name, s.created_at, s.time_zone, s.shifts,
           (SELECT COUNT(*) FROM edges e WHERE e.tenant_id = s.tenant_id AND e.site_id = s.id) AS edges
         FROM sites s WHERE s.tenant_id = ? AND ${scope.sql} ORDER BY s.id`,
        [v.tenantId, ...scope.params],
      ),
    );
  }

  /**
   * A site's enrollment tokens, newest first: hashes and times only (the token is never stored);
   * none when `v` does not see the site.
   */
  async listEnrollmentTokens(
    v: Reader,
    siteId: string,
  ): Promise<
    {
      token_hash: string;
      site_id: string;
      created_at: string;
      expires_at: string;
      used_at: string | null;
      used_by_edge: string | null;
      revoked_at: string | null;
    }[]
  > {
    const scope = visibleSql(v, { site: 'site_id' });
    return this.db.withTenant(v.tenantId, () =>
      this.db.all(
        `SELECT token_hash, site_id, created_at, expires_at, used_at, used_by_edge, revoked_at FROM enrollment_tokens
          WHERE tenant_id = ? AND site_id = ? AND ${scope.sql} ORDER BY created_at DESC`,
        [v.tenantId, siteId, ...scope.params],
      ),
    );
  }

  /**
   * Revokes a site's enrollment token by id if it is still unused and unrevoked: 'revoked', or
   * why not ('missing', 'used', 'revoked-already').
   */
  async revokeEnrollmentToken(
    tenantId: string,
    siteId: string,
    id: string,
    now: string,
  ): Promise<'revoked' | 'missing' | 'used' | 'revoked-already'> {
    return this.db.withTenant(tenantId, async () => {
      const r = await this.db.run(
        `UPDATE enrollment_tokens SET revoked_at = ? WHERE tenant_id = ? AND site_id = ?
           AND substr(token_hash, 1, 16) = ? AND used_at IS NULL AND revoked_at IS NULL`,
        [now, tenantId, siteId, id],
      );
      if (r.changes > 0) return 'revoked';
      const row = await this.db.get<{ used_at: string | null; revoked_at: string | null }>(
        'SELECT used_at, revoked_at FROM enrollment_tokens WHERE tenant_id = ? AND site_id = ? AND substr(token_hash, 1, 16) = ?',
        [tenantId, siteId, id],
      );
      return !row ? 'missing' : row.used_at ? 'used' : 'revoked-already';
    });
  }

  /** Retires an edge: false when it is missing or already retired. Its records and checkpoints stay. */
  async retireEdge(tenantId: string, id: string, now: string): Promise<boolean> {
    const r = await this.db.withTenant(tenantId, () =>
      this.db.run('UPDATE edges SET retired_at = ? WHERE tenant_id = ? AND id = ? AND retired_at IS NULL', [
        now,
        tenantId,
        id,
      ]),
    );
    return r.changes === 1;
  }

  /** The tenant's API tokens, newest first: they read every site, so a reader limited to sites sees none. */
  async listApiTokens(
    v: Reader,
  ): Promise<{ token_hash: string; name: string; created_at: string; revoked_at: string | null }[]> {
    const scope = visibleSql(v, { everySite: true });
    return this.db.withTenant(v.tenantId, () =>
      this.db.all(
        `SELECT token_hash, name, created_at, revoked_at FROM api_tokens WHERE tenant_id = ? AND ${scope.sql}
          ORDER BY created_at DESC`,
        [v.tenantId, ...scope.params],
      ),
    );
  }

  /** Revokes the unrevoked API token with this id; false when there is none. */
  async revokeApiToken(tenantId: string, id: string, now: string): Promise<boolean> {
    const r = await this.db.withTenant(tenantId, () =>
      this.db.run(
        'UPDATE api_tokens SET revoked_at = ? WHERE tenant_id = ? AND substr(token_hash, 1, 16) = ? AND revoked_at IS NULL',
        [now, tenantId, id],
      ),
    );
    return r.changes > 0;
  }
}
