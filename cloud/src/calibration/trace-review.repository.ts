import { randomUUID } from 'node:crypto';
import type { Db, SqlParam } from '../platform/db/db.js';
import { visibleSql, type Viewer } from '../access/index.js';

/** A change of a stored calibration's traceability after it was stored (migration 61). */
export interface TraceReviewRow {
  tenant_id: string;
  id: string;
  calibration_id: string;
  /** The reference standard whose history changed. */
  standard: string;
  /** The calibration (of the standard) that caused the re-evaluation. */
  cause: string;
  status_before: 'ok' | 'flagged';
  status_after: 'ok' | 'flagged';
  issues_before: string;
  issues_after: string;
  at: string;
}

/** A calibration made with a standard: which instrument, when. */
export interface CitingCalibration {
  calibration_id: string;
  calibrated_at: string;
  equipment: string;
}

/**
 * The reference standards each calibration used (a range per standard), the traceability
 * verdict of stored calibrations when it is re-evaluated, and the log of those re-evaluations.
 */
export class TraceReviewRepository {
  constructor(private readonly db: Db) {}

  /** Indexes the standards a calibration cites (idempotent). */
  async indexStandards(
    tenantId: string,
    calibrationId: string,
    calibratedAt: string,
    standards: readonly string[],
  ) {
    for (const s of new Set(standards))
      await this.db.withTenant(tenantId, () =>
        this.db.run(
          `INSERT INTO calibration_standards (tenant_id, standard, calibrated_at, calibration_id)
           VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
          [tenantId, s, calibratedAt, calibrationId],
        ),
      );
  }

  /**
   * Calibrations that cited `standard`, in time order; optionally only in (after, upTo]: those of
   * equipment the reader sees (its register entry's site and export control).
   */
  async citing(
    v: Viewer,
    standard: string,
    range: { after?: string | null; upTo?: string | null } = {},
  ): Promise<CitingCalibration[]> {
    const tenantId = v.tenantId;
    const seen = visibleSql(v, { site: 'e.site_id', regime: 'e.export_regime' });
    const where = [
      's.tenant_id = ?',
      's.standard = ?',
      `EXISTS (SELECT 1 FROM equipment e WHERE e.tenant_id = c.tenant_id AND e.tag = c.equipment AND ${seen.sql})`,
    ];
    const params: SqlParam[] = [tenantId, standard, ...seen.params];
    if (range.after) {
      where.push('s.calibrated_at > ?');
      params.push(range.after);
    }
    if (range.upTo) {
      where.push('s.calibrated_at <= ?');
      params.push(range.upTo);
    }
    return this.db.withTenant(tenantId, () =>
      this.db.all<CitingCalibration>(
        `SELECT s.calibration_id, s.calibrated_at, c.equipment FROM calibration_standards s
         JOIN calibrations c ON c.tenant_id = s.tenant_id AND c.id = s.calibration_id
         WHERE ${where.join(' AND ')} ORDER BY s.calibrated_at, s.calibration_id`,
        params,
      ),
    );
  }

  /** Sets a stored calibration's traceability (only these two columns may change) and logs why. */
  async reevaluated(r: Omit<TraceReviewRow, 'id'>): Promise<void> {
    await this.db.withTenant(r.tenant_id, async () => {
      await this.db.run(
        'UPDATE calibrations SET traceability = ?, trace_issues = ? WHERE tenant_id = ? AND id = ?',
        [r.status_after, r.issues_after, r.tenant_id, r.calibration_id],
      );
      await this.db.run(
        `INSERT INTO calibration_trace_reviews (tenant_id, id, calibration_id, standard, cause, status_before,
           status_after, issues_before, issues_after, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          r.tenant_id,
          randomUUID(),
          r.calibration_id,
          r.standard,
          r.cause,
          r.status_before,
          r.status_after,
          r.issues_before,
          r.issues_after,
          r.at,
        ],
      );
    });
  }
}
