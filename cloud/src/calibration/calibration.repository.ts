import { visibleSql, type Viewer } from '../access/index.js';
import type { Db, SqlParam } from '../platform/db/db.js';
import { inChunks } from '../platform/db/in-chunks.js';
import { keysetPage } from '../platform/db/keyset.js';

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
  /** A manual entry that corrects one returned for correction: that entry's id. */
  corrects: string | null;
}

export type NewCalibration = Omit<CalibrationRow, 'tenant_id' | 'created_at' | 'corrects'> & {
  corrects?: string | null;
};

/** What a second person decided about a manual entry; each is a signature of its own purpose. */
export type ReviewPurpose = 'approval' | 'rejection' | 'return';
export const REVIEW_PURPOSES: readonly ReviewPurpose[] = ['approval', 'rejection', 'return'];

/**
 * SQL (for a calibrations row aliased `c`): the entry counts. A manual entry rejected or returned
 * for correction by its reviewer no longer does: it stays in the history, not in the status.
 */
export const EFFECTIVE_CALIBRATION = `NOT EXISTS (SELECT 1 FROM calibration_signatures v
  WHERE v.tenant_id = c.tenant_id AND v.calibration_id = c.id AND v.purpose IN ('rejection', 'return'))`;

/** Who reads: the request's viewer, or the part of it the scope needs. */
type Reader = Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>;

/**
 * SQL (with `calibrationsSeenBy`'s joins): a calibration's site. The register site of the
 * calibrated equipment; for equipment not (yet) registered, the site of the edge that sent the
 * calibration. A manual entry of unregistered equipment has neither: no site.
 */
export const CALIBRATION_SITE = 'COALESCE(ce.site_id, cd.site_id)';

/**
 * The one rule for which calibrations (aliased `c`) `v` may see, as joins and a condition: of its
 * sites by `CALIBRATION_SITE` (a calibration with no site only to a reader of every site) and,
 * unless cleared, not of export-controlled equipment. The calibration engine and the reports both
 * read through it.
 */
export function calibrationsSeenBy(v: Reader): { join: string; sql: string; params: SqlParam[] } {
  const seen = visibleSql(v, { site: CALIBRATION_SITE, regime: 'ce.export_regime' });
  return {
    join: `LEFT JOIN equipment ce ON ce.tenant_id = c.tenant_id AND ce.tag = c.equipment
           LEFT JOIN edges cd ON cd.tenant_id = c.tenant_id AND cd.id = c.edge_id`,
    ...seen,
  };
}

/** An electronic signature of a manual calibration entry (migration 5): append-only. */
export interface SignatureRow {
  tenant_id: string;
  calibration_id: string;
  /** 'entry': the person who entered (performed) it; the others: the second person's review. */
  purpose: 'entry' | ReviewPurpose;
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
  /** Why an entry was rejected or returned (null for an entry or approval). */
  reason: string | null;
}

/** Where a manual entry stands: waiting for its review, or what the review decided. */
export type ReviewState = 'pending' | 'approved' | 'rejected' | 'returned';
export const REVIEW_OF_STATE: Record<Exclude<ReviewState, 'pending'>, ReviewPurpose> = {
  approved: 'approval',
  rejected: 'rejection',
  returned: 'return',
};

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
           traceability, trace_issues, body, entered_by, recorded_by, evidence_sha256, created_at, corrects)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
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
          c.corrects ?? null,
        ],
      ),
    );
    return r.changes === 1;
  }

  /**
   * One equipment's calibrations in time order (ties by id): those that count, or with
   * `includeVoided` also manual entries rejected or returned by their reviewer (the history).
   */
  async forEquipment(
    v: Reader,
    tag: string,
    opts: { includeVoided?: boolean } = {},
  ): Promise<CalibrationRow[]> {
    const seen = calibrationsSeenBy(v);
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<CalibrationRow>(
        `SELECT c.* FROM calibrations c ${seen.join} WHERE c.tenant_id = ? AND c.equipment = ? AND ${seen.sql}${
          opts.includeVoided ? '' : ` AND ${EFFECTIVE_CALIBRATION}`
        } ORDER BY c.calibrated_at, c.id`,
        [v.tenantId, tag, ...seen.params],
      ),
    );
  }

  /** Inserts a signature once per (calibration, purpose); false if that purpose is already signed. */
  async insertSignature(s: SignatureRow): Promise<boolean> {
    const r = await this.db.withTenant(s.tenant_id, () =>
      this.db.run(
        `INSERT INTO calibration_signatures (tenant_id, calibration_id, purpose, user_id, user_email, user_name,
           user_role, meaning, signed_at, content_sha256, signature_sha256, address, reason)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
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
          s.reason,
        ],
      ),
    );
    return r.changes === 1;
  }

  /** The signatures of the calibrations of `calibrationIds` that `v` may see. */
  async signaturesOf(v: Reader, calibrationIds: readonly string[]): Promise<SignatureRow[]> {
    if (calibrationIds.length === 0) return [];
    const seen = calibrationsSeenBy(v);
    return inChunks(calibrationIds, 500, (chunk, marks) =>
      this.db.withTenant(v.tenantId, () =>
        this.db.all<SignatureRow>(
          `SELECT s.* FROM calibration_signatures s
           JOIN calibrations c ON c.tenant_id = s.tenant_id AND c.id = s.calibration_id ${seen.join}
           WHERE s.tenant_id = ? AND s.calibration_id IN (${marks}) AND ${seen.sql}`,
          [v.tenantId, ...chunk, ...seen.params],
        ),
      ),
    );
  }

  /**
   * Manual entries that `v` may see (of equipment of its sites; not export-controlled unless
   * cleared) by review state, oldest first, paged by (created_at, id).
   */
  async manualEntries(
    v: Viewer,
    q: {
      approval?: ReviewState | undefined;
      siteId?: string | undefined;
      after?: { createdAt: string; id: string } | undefined;
      limit: number;
    },
  ): Promise<CalibrationListRow[]> {
    const tenantId = v.tenantId;
    const seen = visibleSql(v, { site: 'e.site_id', regime: 'e.export_regime' });
    const where = ['c.tenant_id = ?', "c.source = 'manual'", seen.sql];
    const params: SqlParam[] = [tenantId, ...seen.params];
    if (q.approval === 'pending') where.push('a.calibration_id IS NULL');
    else if (q.approval !== undefined) {
      where.push('a.purpose = ?');
      params.push(REVIEW_OF_STATE[q.approval]);
    }
    if (q.siteId !== undefined) {
      where.push('e.site_id = ?');
      params.push(q.siteId);
    }
    if (q.after) {
      const page = keysetPage('c.created_at', 'c.id', 'after', { at: q.after.createdAt, id: q.after.id });
      where.push(page.sql);
      params.push(...page.params);
    }
    params.push(q.limit);
    return this.db.withTenant(tenantId, () =>
      this.db.all<CalibrationListRow>(
        `SELECT c.*, e.site_id AS site_id, e.export_regime AS export_regime, e.export_eccn AS export_eccn
         FROM calibrations c
         JOIN equipment e ON e.tenant_id = c.tenant_id AND e.tag = c.equipment
         LEFT JOIN calibration_signatures a
           ON a.tenant_id = c.tenant_id AND a.calibration_id = c.id
           AND a.purpose IN ('approval', 'rejection', 'return')
         WHERE ${where.join(' AND ')}
         ORDER BY c.created_at, c.id LIMIT ?`,
        params,
      ),
    );
  }

  /**
   * Whether the tenant may hold records the engine never derived: only one that held records
   * before the calibration engine existed (migration 94); every record since is derived at ingest.
   * The product's own work (registration), read as \`wholeTenant(…)\`.
   */
  async mayHoldUnderived(v: Pick<Reader, 'tenantId'>): Promise<boolean> {
    const row = await this.db.withTenant(v.tenantId, () =>
      this.db.get<{ underived_records: number | boolean }>(
        'SELECT underived_records FROM tenants WHERE id = ?',
        [v.tenantId],
      ),
    );
    return Boolean(row?.underived_records);
  }

  /**
   * Records about `tag` (its own calibration, usage and inspection records) stored without
   * their derived rows: ingested before the calibration engine (migration 4) existed. Read at
   * registration, so that its status and history include them (the derivation is idempotent).
   */
  async underivedRecords(v: Reader, tag: string): Promise<UnderivedRecord[]> {
    const seen = visibleSql(v, { site: 'e.site_id', tag: 'r.equipment' });
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<UnderivedRecord>(
        `SELECT r.edge_id, r.seq, e.site_id, r.json FROM records r
         JOIN edges e ON e.tenant_id = r.tenant_id AND e.id = r.edge_id
         WHERE r.tenant_id = ? AND r.equipment = ? AND ${seen.sql} AND (
           (r.kind = 'calibration' AND NOT EXISTS (
              SELECT 1 FROM calibrations c WHERE c.tenant_id = r.tenant_id AND c.id = r.edge_id || ':' || r.seq))
           OR (r.kind IN ('usage', 'inspection') AND NOT EXISTS (
              SELECT 1 FROM traceable_records t
              WHERE t.tenant_id = r.tenant_id AND t.edge_id = r.edge_id AND t.seq = r.seq)))
         ORDER BY r.edge_id, r.seq`,
        [v.tenantId, tag, ...seen.params],
      ),
    );
  }

  /** One calibration as `v` sees it: undefined when absent or of equipment hidden from `v`. */
  async get(v: Reader, id: string): Promise<CalibrationRow | undefined> {
    const seen = calibrationsSeenBy(v);
    return this.db.withTenant(v.tenantId, () =>
      this.db.get<CalibrationRow>(
        `SELECT c.* FROM calibrations c ${seen.join} WHERE c.tenant_id = ? AND c.id = ? AND ${seen.sql}`,
        [v.tenantId, id, ...seen.params],
      ),
    );
  }
}
