import type { Db, SqlParam } from '../platform/db/db.js';

export type PassFail = 'pass' | 'fail';

export interface CalibrationRow {
  tenant_id: string;
  id: string;
  equipment: string;
  /** 'record' (derived from an ingested calibration record) or 'manual' (entered through the API). */
  source: 'record' | 'manual';
  edge_id: string | null;
  seq: number | null;
  calibrated_at: string;
  as_found: PassFail;
  as_left: PassFail | null;
  traceability: 'ok' | 'flagged';
  /** JSON array of strings: why the traceability is flagged. */
  trace_issues: string;
  /** The calibration body as validated (for a record: the record's body). */
  body: string;
  entered_by: string | null;
  recorded_by: string | null;
  evidence_sha256: string | null;
  created_at: string;
}

export type NewCalibration = Omit<CalibrationRow, 'tenant_id' | 'created_at'>;

/** An electronic signature of a manual calibration entry (migration 5): append-only. */
export interface SignatureRow {
  tenant_id: string;
  calibration_id: string;
  /** 'entry': the person who entered (performed) it; 'approval': the second person. */
  purpose: 'entry' | 'approval';
  user_id: string;
  user_email: string;
  user_name: string;
  user_role: string;
  meaning: string;
  signed_at: string;
  /** The SHA-256 of the entry's canonical JSON the signature is bound to. */
  content_sha256: string;
  /** The SHA-256 of the signature manifest's canonical JSON (what the audit trail carries). */
  signature_sha256: string;
  address: string | null;
}

/** A calibration with its register entry's site and export flag (the approvals list). */
export interface CalibrationListRow extends CalibrationRow {
  site_id: string;
  export_regime: string | null;
  export_eccn: string | null;
}

/** A stored record whose derivation (calibration event, traceability index) is missing. */
export interface UnderivedRecord {
  edge_id: string;
  seq: number;
  site_id: string;
  json: string;
}

/** Calibration events: append-only (the app role may not UPDATE or DELETE them on PostgreSQL). */
export class CalibrationRepository {
  constructor(private readonly db: Db) {}

  /** Inserts once: a calibration derived twice from the same record (edge, seq) is stored once. */
  async insert(tenantId: string, c: NewCalibration, now: string): Promise<boolean> {
    const r = await this.db.withTenant(tenantId, () =>
      this.db.run(
        `INSERT INTO calibrations (tenant_id, id, equipment, source, edge_id, seq, calibrated_at, as_found, as_left,
           traceability, trace_issues, body, entered_by, recorded_by, evidence_sha256, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        [
          tenantId,
          c.id,
          c.equipment,
          c.source,
          c.edge_id,
          c.seq,
          c.calibrated_at,
          c.as_found,
          c.as_left,
          c.traceability,
          c.trace_issues,
          c.body,
          c.entered_by,
          c.recorded_by,
          c.evidence_sha256,
          now,
        ],
      ),
    );
    return r.changes === 1;
  }

  /** One equipment's calibrations in time order (ties by id). */
  async forEquipment(tenantId: string, tag: string): Promise<CalibrationRow[]> {
    return this.db.withTenant(tenantId, () =>
      this.db.all<CalibrationRow>(
        'SELECT * FROM calibrations WHERE tenant_id = ? AND equipment = ? ORDER BY calibrated_at, id',
        [tenantId, tag],
      ),
    );
  }

  /** Inserts a signature once per (calibration, purpose); false if that purpose is already signed. */
  async insertSignature(s: SignatureRow): Promise<boolean> {
    const r = await this.db.withTenant(s.tenant_id, () =>
      this.db.run(
        `INSERT INTO calibration_signatures (tenant_id, calibration_id, purpose, user_id, user_email, user_name,
           user_role, meaning, signed_at, content_sha256, signature_sha256, address)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        [
          s.tenant_id,
          s.calibration_id,
          s.purpose,
          s.user_id,
          s.user_email,
          s.user_name,
          s.user_role,
          s.meaning,
          s.signed_at,
          s.content_sha256,
          s.signature_sha256,
          s.address,
        ],
      ),
    );
    return r.changes === 1;
  }

  async signaturesOf(tenantId: string, calibrationIds: readonly string[]): Promise<SignatureRow[]> {
    if (calibrationIds.length === 0) return [];
    const out: SignatureRow[] = [];
    for (let i = 0; i < calibrationIds.length; i += 500) {
      const chunk = calibrationIds.slice(i, i + 500);
      out.push(
        ...(await this.db.withTenant(tenantId, () =>
          this.db.all<SignatureRow>(
            `SELECT * FROM calibration_signatures WHERE tenant_id = ? AND calibration_id IN (${chunk.map(() => '?').join(',')})`,
            [tenantId, ...chunk],
          ),
        )),
      );
    }
    return out;
  }

  /**
   * Manual entries by approval state, oldest first, paged by (created_at, id); optionally only
   * the given sites, and without export-controlled equipment unless `includeFlagged`.
   */
  async manualEntries(
    tenantId: string,
    q: {
      approval?: 'pending' | 'approved' | undefined;
      sites: readonly string[] | null;
      siteId?: string | undefined;
      includeFlagged: boolean;
      after?: { createdAt: string; id: string } | undefined;
      limit: number;
    },
  ): Promise<CalibrationListRow[]> {
    const where = ['c.tenant_id = ?', "c.source = 'manual'"];
    const params: SqlParam[] = [tenantId];
    if (q.approval === 'pending') where.push('a.calibration_id IS NULL');
    if (q.approval === 'approved') where.push('a.calibration_id IS NOT NULL');
    if (q.sites !== null) {
      if (q.sites.length === 0) return [];
      where.push(`e.site_id IN (${q.sites.map(() => '?').join(',')})`);
      params.push(...q.sites);
    }
    if (q.siteId !== undefined) {
      where.push('e.site_id = ?');
      params.push(q.siteId);
    }
    if (!q.includeFlagged) where.push('e.export_regime IS NULL');
    if (q.after) {
      where.push('(c.created_at > ? OR (c.created_at = ? AND c.id > ?))');
      params.push(q.after.createdAt, q.after.createdAt, q.after.id);
    }
    params.push(q.limit);
    return this.db.withTenant(tenantId, () =>
      this.db.all<CalibrationListRow>(
        `SELECT c.*, e.site_id AS site_id, e.export_regime AS export_regime, e.export_eccn AS export_eccn
         FROM calibrations c
         JOIN equipment e ON e.tenant_id = c.tenant_id AND e.tag = c.equipment
         LEFT JOIN calibration_signatures a
           ON a.tenant_id = c.tenant_id AND a.calibration_id = c.id AND a.purpose = 'approval'
         WHERE ${where.join(' AND ')}
         ORDER BY c.created_at, c.id LIMIT ?`,
        params,
      ),
    );
  }

  /**
   * Records about `tag` (its own calibration, usage and inspection records) stored without
   * their derived rows: ingested before the calibration engine (migration 4) existed. Read at
   * registration, so that its status and history include them (the derivation is idempotent).
   */
  async underivedRecords(tenantId: string, tag: string): Promise<UnderivedRecord[]> {
    return this.db.withTenant(tenantId, () =>
      this.db.all<UnderivedRecord>(
        `SELECT r.edge_id, r.seq, e.site_id, r.json FROM records r
         JOIN edges e ON e.tenant_id = r.tenant_id AND e.id = r.edge_id
         WHERE r.tenant_id = ? AND r.equipment = ? AND (
           (r.kind = 'calibration' AND NOT EXISTS (
              SELECT 1 FROM calibrations c WHERE c.tenant_id = r.tenant_id AND c.id = r.edge_id || ':' || r.seq))
           OR (r.kind IN ('usage', 'inspection') AND NOT EXISTS (
              SELECT 1 FROM traceable_records t
              WHERE t.tenant_id = r.tenant_id AND t.edge_id = r.edge_id AND t.seq = r.seq)))
         ORDER BY r.edge_id, r.seq`,
        [tenantId, tag],
      ),
    );
  }

  async get(tenantId: string, id: string): Promise<CalibrationRow | undefined> {
    return this.db.withTenant(tenantId, () =>
      this.db.get<CalibrationRow>('SELECT * FROM calibrations WHERE tenant_id = ? AND id = ?', [
        tenantId,
        id,
      ]),
    );
  }
}
