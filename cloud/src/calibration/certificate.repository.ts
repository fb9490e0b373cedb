import type { Db } from '../platform/db/db.js';
import type { Viewer } from '../access/index.js';
import { CALIBRATION_SITE, calibrationsSeenBy } from './calibration.repository.js';

/** A certificate file attached to a calibration (migration 60): inserted once, never changed. */
export interface CertificateRow {
  tenant_id: string;
  id: string;
  calibration_id: string;
  equipment: string;
  kind: 'pdf' | 'dcc';
  filename: string;
  media_type: string;
  size: number;
  sha256: string;
  /** What a DCC says (DccSummary as JSON); null for a PDF. */
  dcc: string | null;
  /** JSON array of CertificateDifference (empty for a PDF). */
  differences: string;
  uploaded_by: string;
  uploaded_at: string;
}

/** The calibration a certificate is attached to, as the viewer may see it. */
export interface VisibleCalibration {
  id: string;
  equipment: string;
  body: string;
  /** The calibration's site (`CALIBRATION_SITE`); null for a manual entry of unregistered equipment. */
  site_id: string | null;
  export_regime: 'ITAR' | 'EAR' | null;
  export_eccn: string | null;
}

const COLUMNS =
  'cc.tenant_id, cc.id, cc.calibration_id, cc.equipment, cc.kind, cc.filename, cc.media_type, cc.size, cc.sha256, cc.dcc, cc.differences, cc.uploaded_by, cc.uploaded_at';

/** A certificate's calibration (`c`), which its scope follows. */
const OF_CALIBRATION = 'JOIN calibrations c ON c.tenant_id = cc.tenant_id AND c.id = cc.calibration_id';

/**
 * Certificates: every read follows the calibration the certificate is attached to, through the
 * calibrations' one rule (`calibrationsSeenBy`: the viewer's sites and export control), so a
 * certificate of a calibration the viewer may not see is not found.
 */
export class CertificateRepository {
  constructor(private readonly db: Db) {}

  /**
   * A calibration the viewer sees (by the calibrations' one rule, `calibrationsSeenBy`), with its
   * site and its equipment's export flag, or undefined.
   */
  async calibration(v: Viewer, id: string): Promise<VisibleCalibration | undefined> {
    const seen = calibrationsSeenBy(v);
    return this.db.withTenant(v.tenantId, () =>
      this.db.get<VisibleCalibration>(
        `SELECT c.id, c.equipment, c.body, ${CALIBRATION_SITE} AS site_id, ce.export_regime, ce.export_eccn
         FROM calibrations c ${seen.join}
         WHERE c.tenant_id = ? AND c.id = ? AND ${seen.sql}`,
        [v.tenantId, id, ...seen.params],
      ),
    );
  }

  /**
   * What a DCC export of a calibration needs (its registered equipment, site and tenant), if the
   * viewer sees the calibration (`calibrationsSeenBy`); undefined for equipment not registered.
   */
  async exportSource(
    v: Viewer,
    id: string,
  ): Promise<
    | (VisibleCalibration & {
        entered_by: string | null;
        type: string;
        spec: string;
        site_name: string | null;
        tenant_name: string;
      })
    | undefined
  > {
    const seen = calibrationsSeenBy(v);
    return this.db.withTenant(v.tenantId, () =>
      this.db.get(
        `SELECT c.id, c.equipment, c.body, c.entered_by, ce.site_id, ce.type, ce.spec, ce.export_regime,
                ce.export_eccn, s.name AS site_name, t.name AS tenant_name
         FROM calibrations c ${seen.join}
         JOIN tenants t ON t.id = c.tenant_id
         LEFT JOIN sites s ON s.tenant_id = ce.tenant_id AND s.id = ce.site_id
         WHERE c.tenant_id = ? AND c.id = ? AND ce.tag IS NOT NULL AND ${seen.sql}`,
        [v.tenantId, id, ...seen.params],
      ),
    );
  }

  async insert(row: CertificateRow, content: Buffer): Promise<void> {
    await this.db.withTenant(row.tenant_id, () =>
      this.db.run(
        `INSERT INTO calibration_certificates (tenant_id, id, calibration_id, equipment, kind, filename, media_type,
           size, sha256, content, dcc, differences, uploaded_by, uploaded_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          row.tenant_id,
          row.id,
          row.calibration_id,
          row.equipment,
          row.kind,
          row.filename,
          row.media_type,
          row.size,
          row.sha256,
          content,
          row.dcc,
          row.differences,
          row.uploaded_by,
          row.uploaded_at,
        ],
      ),
    );
  }

  /** A calibration's certificates the viewer sees, oldest first (without their content). */
  async list(v: Viewer, calibrationId: string): Promise<CertificateRow[]> {
    const seen = calibrationsSeenBy(v);
    return this.db.withTenant(v.tenantId, () =>
      this.db.all<CertificateRow>(
        `SELECT ${COLUMNS} FROM calibration_certificates cc ${OF_CALIBRATION} ${seen.join}
         WHERE cc.tenant_id = ? AND cc.calibration_id = ? AND ${seen.sql}
         ORDER BY cc.uploaded_at, cc.id`,
        [v.tenantId, calibrationId, ...seen.params],
      ),
    );
  }

  /** One certificate with its content, if the viewer sees it. */
  async file(
    v: Viewer,
    calibrationId: string,
    id: string,
  ): Promise<(CertificateRow & { content: Buffer }) | undefined> {
    const seen = calibrationsSeenBy(v);
    const row = await this.db.withTenant(v.tenantId, () =>
      this.db.get<CertificateRow & { content: Buffer | Uint8Array }>(
        `SELECT ${COLUMNS}, cc.content FROM calibration_certificates cc ${OF_CALIBRATION} ${seen.join}
         WHERE cc.tenant_id = ? AND cc.calibration_id = ? AND cc.id = ? AND ${seen.sql}`,
        [v.tenantId, calibrationId, id, ...seen.params],
      ),
    );
    return row ? { ...row, content: Buffer.from(row.content) } : undefined;
  }
}
