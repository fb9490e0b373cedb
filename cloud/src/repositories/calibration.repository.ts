import type { Db } from '../db/db.js';

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

  async get(tenantId: string, id: string): Promise<CalibrationRow | undefined> {
    return this.db.withTenant(tenantId, () =>
      this.db.get<CalibrationRow>('SELECT * FROM calibrations WHERE tenant_id = ? AND id = ?', [
        tenantId,
        id,
      ]),
    );
  }
}
