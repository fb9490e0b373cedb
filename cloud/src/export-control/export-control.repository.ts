import type { Db, SqlParam } from '../platform/db/db.js';
import { insertChunked } from '../platform/db/insert-chunked.js';
import { type Viewer, visibleSql } from '../access/index.js';
import { keysetPage } from '../platform/db/keyset.js';

/** A flagged register entry: its tag and export-control regime. */
export interface FlagRow {
  tag: string;
  export_regime: 'ITAR' | 'EAR';
  export_eccn: string | null;
}

/** One row of `export_access_log`: a flagged object served to a caller. */
export interface ExportAccessRow {
  tenant_id: string;
  id: string;
  at: string;
  user_id: string | null;
  principal: string;
  object_type: string;
  object_id: string;
  regime: string;
  eccn: string | null;
  address: string | null;
  route: string;
}

/**
 * The site of an access-log row (alias `l`), through what it names: equipment (`equipment`,
 * `yield`, `suspect-records`: a tag), a calibration's equipment, or a record's (`edge:seq`) edge,
 * whose site a record belongs to as everywhere else. NULL when the object is no longer there.
 */
const logSite = (l: string) => `CASE
  WHEN ${l}.object_type IN ('equipment', 'yield', 'suspect-records') THEN
    (SELECT e.site_id FROM equipment e WHERE e.tenant_id = ${l}.tenant_id AND e.tag = ${l}.object_id)
  WHEN ${l}.object_type = 'calibration' THEN
    (SELECT e.site_id FROM calibrations c
       JOIN equipment e ON e.tenant_id = c.tenant_id AND e.tag = c.equipment
     WHERE c.tenant_id = ${l}.tenant_id AND c.id = ${l}.object_id)
  ELSE (SELECT d.site_id FROM edges d WHERE d.tenant_id = ${l}.tenant_id AND ${l}.object_id LIKE d.id || ':%')
END`;

/**
 * The access-log rows (alias `l`) `v` may see: of its sites, by what each row names (`logSite`);
 * a row whose object is gone only for a tenant-wide reader. The one scope of the log, for
 * `GET /export-access` and the export-access report.
 */
export const accessLogVisible = (v: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>, l: string) =>
  visibleSql(v, { site: `(${logSite(l)})` });

/** Export control's SQL: the equipment flags and the access log (ExportControlService holds the rules). */
export class ExportControlRepository {
  constructor(private readonly db: Db) {}

  /**
   * The flagged equipment `v` may see (one indexed scan: a small set). The screen that keeps
   * flagged data from callers reads it as `wholeTenant`: a flag at any site flags a gauge that a
   * record of another site names.
   */
  async flags(v: Viewer): Promise<FlagRow[]> {
    const scope = visibleSql(v, { site: 'site_id', regime: 'export_regime' });
    return this.db.withTenantStatement(v.tenantId, () =>
      this.db.all<FlagRow>(
        `SELECT tag, export_regime, export_eccn FROM equipment
          WHERE tenant_id = ? AND export_regime IS NOT NULL AND ${scope.sql}`,
        [v.tenantId, ...scope.params],
      ),
    );
  }

  /** One register entry's flag as `v` may see it (undefined: no such entry, or not for `v`). */
  async flagOf(
    v: Viewer,
    tag: string,
  ): Promise<{ export_regime: FlagRow['export_regime'] | null; export_eccn: string | null } | undefined> {
    const scope = visibleSql(v, { site: 'site_id', regime: 'export_regime' });
    return this.db.withTenant(v.tenantId, () =>
      this.db.get(
        `SELECT export_regime, export_eccn FROM equipment WHERE tenant_id = ? AND tag = ? AND ${scope.sql}`,
        [v.tenantId, tag, ...scope.params],
      ),
    );
  }

  /** Appends access-log rows (inside the caller's transaction). */
  async insertAccess(tenantId: string, rows: readonly Omit<ExportAccessRow, 'tenant_id'>[]): Promise<void> {
    await this.db.withTenant(tenantId, () =>
      insertChunked(
        this.db,
        'export_access_log',
        'tenant_id, id, at, user_id, principal, object_type, object_id, regime, eccn, address, route',
        rows.map((r): SqlParam[] => [
          tenantId,
          r.id,
          r.at,
          r.user_id,
          r.principal,
          r.object_type,
          r.object_id,
          r.regime,
          r.eccn,
          r.address,
          r.route,
        ]),
        { rowsPerStatement: 100 },
      ),
    );
  }

  /**
   * The access log as `v` may see it, oldest first, paged by (at, id): the service lets only
   * cleared readers have it (it names flagged objects). The log has no site column: a row is of
   * the site of what it names (`accessLogVisible`); a reader limited to sites gets the rows of those
   * sites, and not the rows whose object is gone (no site left to check).
   */
  async list(
    v: Viewer,
    q: {
      from?: string | undefined;
      to?: string | undefined;
      after?: { at: string; id: string } | undefined;
      limit: number;
    },
  ): Promise<ExportAccessRow[]> {
    const scope = accessLogVisible(v, 'l');
    const where = ['l.tenant_id = ?', scope.sql];
    const params: SqlParam[] = [v.tenantId, ...scope.params];
    if (q.from) {
      where.push('l.at >= ?');
      params.push(q.from);
    }
    if (q.to) {
      where.push('l.at < ?');
      params.push(q.to);
    }
    if (q.after) {
      const page = keysetPage('l.at', 'l.id', 'after', q.after);
      where.push(page.sql);
      params.push(...page.params);
    }
    params.push(q.limit);
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<ExportAccessRow>(
        `SELECT l.* FROM export_access_log l WHERE ${where.join(' AND ')} ORDER BY l.at, l.id LIMIT ?`,
        params,
      ),
    );
  }
}
