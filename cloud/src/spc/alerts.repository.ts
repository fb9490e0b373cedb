import type { Db, SqlParam } from '../platform/db/db.js';
import { visibleSql, type Viewer } from '../access/index.js';

export type AlertSeverity = 'info' | 'warning' | 'critical';

export interface AlertRow {
  id: string;
  site_id: string | null;
  kind: string;
  severity: AlertSeverity;
  message: string;
  /** When the alert was raised. */
  at: string;
  tag: string | null;
  characteristic: string | null;
  rule: string | null;
  chart: string | null;
  /** The time of the point that raised it (SPC: the last measurement of the point). */
  point_at: string | null;
  detail: string;
  acknowledged_at: string | null;
  acknowledged_by: string | null;
}

export type NewAlert = Omit<AlertRow, 'acknowledged_at' | 'acknowledged_by'> & {
  /** Unique per tenant: an alert with a key already stored is not stored again. */
  dedupeKey: string;
};

export interface AlertQuery {
  siteId?: string | undefined;
  state: 'open' | 'acknowledged' | 'all';
  before?: { at: string; id: string } | undefined;
  limit: number;
}

/**
 * The alert's tag, qualified: inside visibleSql's subquery over equipment a bare `tag` is the
 * equipment's own column, which hid every alert from uncleared readers once any equipment of the
 * tenant was export-controlled.
 */
const ALERT_TAG = 'alerts.tag';

/** Who reads alerts (access's `Viewer`). */
export type AlertViewer = Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>;

const COLS =
  'id, site_id, kind, severity, message, at, tag, characteristic, rule, chart, point_at, detail, acknowledged_at, acknowledged_by';

/** Alerts: raised once per dedupe key, acknowledged once; never deleted. */
export class AlertsRepository {
  constructor(private readonly db: Db) {}

  /** True when stored, false when an alert with the same dedupe key exists. */
  async insert(tenantId: string, a: NewAlert): Promise<boolean> {
    const r = await this.db.withTenant(tenantId, () =>
      this.db.run(
        `INSERT INTO alerts (tenant_id, id, dedupe_key, site_id, kind, severity, message, at, tag, characteristic,
           rule, chart, point_at, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
        [
          tenantId,
          a.id,
          a.dedupeKey,
          a.site_id,
          a.kind,
          a.severity,
          a.message,
          a.at,
          a.tag,
          a.characteristic,
          a.rule,
          a.chart,
          a.point_at,
          a.detail,
        ],
      ),
    );
    return r.changes === 1;
  }

  /** One alert, if `v` may see it: its site (alerts without one are tenant-wide) and its equipment. */
  async get(v: AlertViewer, id: string): Promise<AlertRow | undefined> {
    const seen = visibleSql(v, { site: 'site_id', siteNullable: true, tag: ALERT_TAG });
    return this.db.withTenant(v.tenantId, () =>
      this.db.get<AlertRow>(`SELECT ${COLS} FROM alerts WHERE tenant_id = ? AND id = ? AND ${seen.sql}`, [
        v.tenantId,
        id,
        ...seen.params,
      ]),
    );
  }

  /** The alerts `v` may see, newest first. */
  async list(v: AlertViewer, q: AlertQuery): Promise<AlertRow[]> {
    const tenantId = v.tenantId;
    const seen = visibleSql(v, { site: 'site_id', siteNullable: true, tag: ALERT_TAG });
    const where = ['tenant_id = ?', seen.sql];
    const params: SqlParam[] = [tenantId, ...seen.params];
    if (q.siteId !== undefined) {
      where.push('site_id = ?');
      params.push(q.siteId);
    }
    if (q.state === 'open') where.push('acknowledged_at IS NULL');
    if (q.state === 'acknowledged') where.push('acknowledged_at IS NOT NULL');
    if (q.before) {
      where.push('(at, id) < (?, ?)');
      params.push(q.before.at, q.before.id);
    }
    params.push(q.limit);
    return this.db.withTenant(tenantId, () =>
      this.db.all<AlertRow>(
        `SELECT ${COLS} FROM alerts WHERE ${where.join(' AND ')} ORDER BY at DESC, id DESC LIMIT ?`,
        params,
      ),
    );
  }

  /** Sets the acknowledgement once; false when the alert is missing or already acknowledged. */
  async acknowledge(tenantId: string, id: string, by: string, at: string): Promise<boolean> {
    const r = await this.db.withTenant(tenantId, () =>
      this.db.run(
        `UPDATE alerts SET acknowledged_at = ?, acknowledged_by = ?
         WHERE tenant_id = ? AND id = ? AND acknowledged_at IS NULL`,
        [at, by, tenantId, id],
      ),
    );
    return r.changes === 1;
  }

  /** Open alerts per (tag, characteristic) of one kind. */
  /** Open alerts of `kind` that `v` may see, by (tag, characteristic). */
  async openCounts(v: AlertViewer, kind: string): Promise<Map<string, number>> {
    const tenantId = v.tenantId;
    const seen = visibleSql(v, { site: 'site_id', siteNullable: true, tag: ALERT_TAG });
    const rows = await this.db.withTenant(tenantId, () =>
      this.db.all<{ tag: string; characteristic: string; n: number | string }>(
        `SELECT tag, characteristic, COUNT(*) AS n FROM alerts
         WHERE tenant_id = ? AND kind = ? AND acknowledged_at IS NULL AND tag IS NOT NULL
           AND characteristic IS NOT NULL AND ${seen.sql}
         GROUP BY tag, characteristic`,
        [tenantId, kind, ...seen.params],
      ),
    );
    return new Map(rows.map((r) => [JSON.stringify([r.tag, r.characteristic]), Number(r.n)]));
  }
}
