import { visibleSql, type Viewer } from '../access/index.js';
import type { Db, SqlParam } from '../platform/db/db.js';
import { inChunks } from '../platform/db/in-chunks.js';

/** A row of the equipment register. Descriptive fields live in `spec` (JSON); queried ones are columns. */
export interface EquipmentRow {
  tenant_id: string;
  tag: string;
  site_id: string;
  type: string;
  interval_days: number;
  interval_cycles: number | null;
  due_soon_days: number | null;
  is_reference_standard: number;
  std_due_date: string | null;
  spec: string;
  last_valid_at: string | null;
  next_due: string | null;
  out_of_tolerance: number;
  due_sort: string;
  created_at: string;
  updated_at: string;
  retired_at: string | null;
  /** Export control (migration 5): 'ITAR' | 'EAR', or null when not controlled. */
  export_regime: 'ITAR' | 'EAR' | null;
  export_eccn: string | null;
}

export interface EquipmentWrite {
  tag: string;
  siteId: string;
  type: string;
  intervalDays: number;
  intervalCycles: number | null;
  dueSoonDays: number | null;
  isReferenceStandard: boolean;
  stdDueDate: string | null;
  spec: string;
  /** Export control (absent: not controlled). */
  exportRegime?: 'ITAR' | 'EAR' | null;
  exportEccn?: string | null;
}

/** The cached calendar status of one piece of equipment (recomputed whenever its calibrations change). */
export interface StatusCache {
  lastValidAt: string | null;
  nextDue: string | null;
  outOfTolerance: boolean;
  /** next_due, or '0000-01-01' when it needs attention whatever the date (out of tolerance, never calibrated). */
  dueSort: string;
}

export const ATTENTION_NOW = '0000-01-01';

export interface EquipmentQuery {
  siteId?: string | undefined;
  type?: string | undefined;
  includeRetired?: boolean | undefined;
  afterTag?: string | undefined;
  limit: number;
}

/** Who reads: the request's viewer, or the part of it the scope needs. */
type Reader = Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>;

/** The register rows `v` may see: of its sites, and (unless cleared) not export-controlled. */
const seenBy = (v: Reader) => visibleSql(v, { site: 'site_id', regime: 'export_regime' });

/** The equipment register and the tenant's calibration settings. */
export class EquipmentRepository {
  constructor(private readonly db: Db) {}

  async insert(tenantId: string, e: EquipmentWrite, now: string): Promise<boolean> {
    const r = await this.db.withTenant(tenantId, () =>
      this.db.run(
        `INSERT INTO equipment (tenant_id, tag, site_id, type, interval_days, interval_cycles, due_soon_days,
           is_reference_standard, std_due_date, spec, due_sort, created_at, updated_at, export_regime, export_eccn)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        [
          tenantId,
          e.tag,
          e.siteId,
          e.type,
          e.intervalDays,
          e.intervalCycles,
          e.dueSoonDays,
          e.isReferenceStandard,
          e.stdDueDate,
          e.spec,
          ATTENTION_NOW,
          now,
          now,
          e.exportRegime ?? null,
          e.exportEccn ?? null,
        ],
      ),
    );
    return r.changes === 1;
  }

  async update(tenantId: string, e: EquipmentWrite, now: string): Promise<boolean> {
    const r = await this.db.withTenant(tenantId, () =>
      this.db.run(
        `UPDATE equipment SET site_id = ?, type = ?, interval_days = ?, interval_cycles = ?, due_soon_days = ?,
           is_reference_standard = ?, std_due_date = ?, spec = ?, updated_at = ?, export_regime = ?, export_eccn = ?
         WHERE tenant_id = ? AND tag = ? AND retired_at IS NULL`,
        [
          e.siteId,
          e.type,
          e.intervalDays,
          e.intervalCycles,
          e.dueSoonDays,
          e.isReferenceStandard,
          e.stdDueDate,
          e.spec,
          now,
          e.exportRegime ?? null,
          e.exportEccn ?? null,
          tenantId,
          e.tag,
        ],
      ),
    );
    return r.changes === 1;
  }

  async retire(tenantId: string, tag: string, now: string): Promise<boolean> {
    const r = await this.db.withTenant(tenantId, () =>
      this.db.run(
        'UPDATE equipment SET retired_at = ?, updated_at = ? WHERE tenant_id = ? AND tag = ? AND retired_at IS NULL',
        [now, now, tenantId, tag],
      ),
    );
    return r.changes === 1;
  }

  async reactivate(tenantId: string, tag: string, now: string): Promise<boolean> {
    const r = await this.db.withTenant(tenantId, () =>
      this.db.run(
        'UPDATE equipment SET retired_at = NULL, updated_at = ? WHERE tenant_id = ? AND tag = ? AND retired_at IS NOT NULL',
        [now, tenantId, tag],
      ),
    );
    return r.changes === 1;
  }

  /** One entry as `v` sees it: undefined when absent, of another site, or flagged and `v` not cleared. */
  async find(v: Reader, tag: string): Promise<EquipmentRow | undefined> {
    const seen = seenBy(v);
    return this.db.withTenant(v.tenantId, () =>
      this.db.get<EquipmentRow>(`SELECT * FROM equipment WHERE tenant_id = ? AND tag = ? AND ${seen.sql}`, [
        v.tenantId,
        tag,
        ...seen.params,
      ]),
    );
  }

  /** The entries of `tags` that `v` sees (any order; absent or hidden tags left out), in few statements. */
  async getMany(v: Reader, tags: readonly string[]): Promise<EquipmentRow[]> {
    const seen = seenBy(v);
    return this.db.withTenant(v.tenantId, () =>
      inChunks(tags, 500, (chunk, marks) =>
        this.db.all<EquipmentRow>(
          `SELECT * FROM equipment WHERE tenant_id = ? AND tag IN (${marks}) AND ${seen.sql}`,
          [v.tenantId, ...chunk, ...seen.params],
        ),
      ),
    );
  }

  /** The register as `v` sees it, by tag. */
  async list(v: Reader, q: EquipmentQuery): Promise<EquipmentRow[]> {
    const seen = seenBy(v);
    const where = ['tenant_id = ?', seen.sql];
    const params: SqlParam[] = [v.tenantId, ...seen.params];
    if (q.siteId) {
      where.push('site_id = ?');
      params.push(q.siteId);
    }
    if (q.type) {
      where.push('type = ?');
      params.push(q.type);
    }
    if (!q.includeRetired) where.push('retired_at IS NULL');
    if (q.afterTag) {
      where.push('tag > ?');
      params.push(q.afterTag);
    }
    params.push(q.limit);
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<EquipmentRow>(
        `SELECT * FROM equipment WHERE ${where.join(' AND ')} ORDER BY tag LIMIT ?`,
        params,
      ),
    );
  }

  /**
   * Sets the next due date of several entries in one statement (a site's due dates recounted in
   * a new time zone): due_sort follows where it held the next due date (not out of tolerance).
   */
  async setNextDue(tenantId: string, dues: readonly { tag: string; nextDue: string }[]): Promise<void> {
    if (dues.length === 0) return;
    const cases = dues.map(() => 'WHEN ? THEN ?').join(' ');
    const pairs = dues.flatMap((d) => [d.tag, d.nextDue]);
    await this.db.withTenant(tenantId, () =>
      this.db.run(
        `UPDATE equipment SET next_due = CASE tag ${cases} END,
           due_sort = CASE WHEN due_sort = next_due THEN CASE tag ${cases} END ELSE due_sort END
         WHERE tenant_id = ? AND tag IN (${dues.map(() => '?').join(', ')})`,
        [...pairs, ...pairs, tenantId, ...dues.map((d) => d.tag)],
      ),
    );
  }

  async setStatusCache(tenantId: string, tag: string, s: StatusCache): Promise<void> {
    await this.db.withTenant(tenantId, () =>
      this.db.run(
        'UPDATE equipment SET last_valid_at = ?, next_due = ?, out_of_tolerance = ?, due_sort = ? WHERE tenant_id = ? AND tag = ?',
        [s.lastValidAt, s.nextDue, s.outOfTolerance, s.dueSort, tenantId, tag],
      ),
    );
  }

  /**
   * Equipment in service that `v` may see and that needs attention by `horizon` (a date): out of
   * tolerance, never calibrated, or next due on or before it. One range scan of
   * (tenant_id[, site_id], due_sort).
   */
  async dueBy(v: Reader, horizon: string, siteId: string | undefined, limit: number) {
    const seen = seenBy(v);
    const site = siteId ? ' AND site_id = ?' : '';
    const params: SqlParam[] = [v.tenantId, ...(siteId ? [siteId] : []), ...seen.params, horizon, limit];
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<EquipmentRow>(
        `SELECT * FROM equipment WHERE tenant_id = ?${site} AND ${seen.sql} AND due_sort <= ? AND retired_at IS NULL
         ORDER BY due_sort, tag LIMIT ?`,
        params,
      ),
    );
  }

  /** Equipment in service that `v` may see with a usage interval (its cycles may make it due before its date). */
  async withUsageInterval(v: Reader, siteId: string | undefined): Promise<EquipmentRow[]> {
    const seen = seenBy(v);
    const site = siteId ? ' AND site_id = ?' : '';
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<EquipmentRow>(
        `SELECT * FROM equipment WHERE tenant_id = ?${site} AND ${seen.sql} AND interval_cycles IS NOT NULL
           AND retired_at IS NULL
         ORDER BY tag`,
        [v.tenantId, ...(siteId ? [siteId] : []), ...seen.params],
      ),
    );
  }

  /**
   * The tenant's default due-soon window: a setting of the whole tenant (of no site, not
   * export-controlled), read by every reader of it.
   */
  async dueSoonDefault(v: Pick<Viewer, 'tenantId'>): Promise<number | undefined> {
    const tenantId = v.tenantId;
    const row = await this.db.withTenant(tenantId, () =>
      this.db.get<{ due_soon_days: number }>(
        'SELECT due_soon_days FROM calibration_settings WHERE tenant_id = ?',
        [tenantId],
      ),
    );
    return row?.due_soon_days;
  }

  async setDueSoonDefault(tenantId: string, days: number, now: string): Promise<void> {
    await this.db.withTenant(tenantId, () =>
      this.db.run(
        `INSERT INTO calibration_settings (tenant_id, due_soon_days, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (tenant_id) DO UPDATE SET due_soon_days = excluded.due_soon_days, updated_at = excluded.updated_at`,
        [tenantId, days, now],
      ),
    );
  }
}
