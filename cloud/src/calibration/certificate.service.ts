import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { CalibrationBody } from '@rigtrace/protocols';
import type { Db } from '../platform/db/db.js';
import { ProblemError } from '../platform/errors.js';
import { wholeTenant } from '../access/index.js';
import type { AuditService } from '../audit/index.js';
import type { ExportCaller, ExportControlService } from '../export-control/index.js';
import { committed } from '../platform/after-commit.js';
import type { CertificateRepository, CertificateRow } from './certificate.repository.js';
import {
  DCC_NS,
  DCC_ROOT,
  dccDifferences,
  readDcc,
  type CertificateDifference,
  type DccSummary,
} from './dcc.js';
import { sniffRoot } from './xml.js';
import { writeDcc } from './dcc-export.js';

/** The software named in an exported DCC. */
export const DCC_SOFTWARE = { name: 'RigTrace', release: '0.1.0' } as const;

/** The default size limit of a certificate file (RIGTRACE_CERTIFICATE_MAX_BYTES). */
export const DEFAULT_CERTIFICATE_MAX_BYTES = 10 * 1024 * 1024;

/** What the client sends: the file name and the file itself, base64. Its type is read from the bytes. */
export const certificateUploadSchema = z.strictObject({
  filename: z
    .string()
    .min(1)
    .max(200)
    .refine(
      (n) =>
        ![...n].some(
          (ch) => ch === '/' || ch === '\\' || ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f,
        ),
      {
        message: 'must be a file name without a path or control characters',
      },
    ),
  content: z
    .string()
    .min(4)
    .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64'),
});

export interface CertificateView {
  id: string;
  calibrationId: string;
  equipment: string;
  kind: 'pdf' | 'dcc';
  filename: string;
  mediaType: string;
  size: number;
  sha256: string;
  uploadedBy: string;
  uploadedAt: string;
  /** What the DCC says (null for a PDF). */
  dcc: DccSummary | null;
  /** Where the DCC and what was entered on the calibration differ (empty: they agree; a PDF is not read). */
  differences: CertificateDifference[];
}

export function certificateView(r: CertificateRow): CertificateView {
  return {
    id: r.id,
    calibrationId: r.calibration_id,
    equipment: r.equipment,
    kind: r.kind,
    filename: r.filename,
    mediaType: r.media_type,
    size: r.size,
    sha256: r.sha256,
    uploadedBy: r.uploaded_by,
    uploadedAt: r.uploaded_at,
    dcc: r.dcc === null ? null : (JSON.parse(r.dcc) as DccSummary),
    differences: JSON.parse(r.differences) as CertificateDifference[],
  };
}

/**
 * The type of a certificate file from its content, never from what the client says: a PDF starts
 * with `%PDF-`; a DCC is UTF-8 XML whose root element is `dcc:digitalCalibrationCertificate` in
 * `https://ptb.de/dcc`. Anything else: null.
 */
export function sniffCertificate(
  bytes: Buffer,
): { kind: 'pdf' | 'dcc'; mediaType: string; text?: string } | null {
  if (bytes.subarray(0, 5).toString('latin1') === '%PDF-')
    return { kind: 'pdf', mediaType: 'application/pdf' };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
  const root = sniffRoot(text.slice(0, 4096));
  if (root && root.ns === DCC_NS && root.name === DCC_ROOT)
    return { kind: 'dcc', mediaType: 'application/xml', text };
  return null;
}

/**
 * Certificate files of calibrations (AS9100D 7.1.5.2, ISO/IEC 17025 7.8): stored with their
 * SHA-256 (on the audit trail), size-limited, typed by content; a DCC is read and compared with
 * what was entered on the calibration. Every request names a calibration: export control of its
 * equipment comes first (`named`), then the read as the caller sees it.
 */
export class CertificateService {
  constructor(
    private readonly db: Db,
    private readonly repo: CertificateRepository,
    private readonly audit: AuditService,
    /** Export control of the calibration's equipment: a refusal audited before the 404, an access logged. */
    private readonly exportControl: Pick<ExportControlService, 'equipmentNamed'>,
    /** The largest file accepted, in bytes. */
    readonly maxBytes: number = DEFAULT_CERTIFICATE_MAX_BYTES,
  ) {}

  /**
   * Export control of the calibration a request names (`equipmentNamed` on its equipment): flagged
   * and the caller not cleared, the refusal is audited and the answer is 404 as for an absent
   * calibration; cleared, the access to the equipment and the calibration is logged. Only which
   * equipment the id names is read for the whole tenant, so that the refusal can be audited.
   */
  private async named(caller: ExportCaller, calibrationId: string): Promise<void> {
    if (calibrationId.length > 200) return;
    const named = await this.repo.calibration(wholeTenant(caller.tenantId), calibrationId);
    if (named) await this.exportControl.equipmentNamed(caller, named.equipment, calibrationId);
  }

  /** The calibration as the caller sees it (export control first, then site scope), else 404. */
  private async visibleCalibration(caller: ExportCaller, calibrationId: string) {
    await this.named(caller, calibrationId);
    const c = calibrationId.length <= 200 ? await this.repo.calibration(caller, calibrationId) : undefined;
    if (!c) throw new ProblemError('CLOUD_NOT_FOUND', 'no such calibration');
    return c;
  }

  /**
   * An uploaded file checked and typed: the body's shape, the size limit (before decoding), the
   * content type sniffed from the bytes, and a DCC read. 400 or 413 otherwise.
   */
  private decode(raw: unknown) {
    const r = certificateUploadSchema.safeParse(raw);
    if (!r.success)
      throw new ProblemError('CLOUD_VALIDATION', 'the request body is not valid', {
        errors: r.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
      });
    // The decoded size is known before decoding: refuse a file over the limit without allocating it.
    const b64 = r.data.content;
    const decodedSize =
      Math.floor((b64.length * 3) / 4) - (b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0);
    if (decodedSize > this.maxBytes)
      throw new ProblemError(
        'CLOUD_PAYLOAD_TOO_LARGE',
        `the certificate is ${decodedSize} bytes; the limit is ${this.maxBytes} bytes`,
      );
    const bytes = Buffer.from(b64, 'base64');
    const type = sniffCertificate(bytes);
    if (!type)
      throw new ProblemError('CLOUD_VALIDATION', 'the file is not a certificate this cloud reads', {
        errors: [
          {
            path: 'content',
            message: `must be a PDF (starting %PDF-) or a Digital Calibration Certificate (XML, root dcc:${DCC_ROOT} in ${DCC_NS})`,
          },
        ],
      });
    let dcc: DccSummary | null = null;
    if (type.kind === 'dcc') {
      try {
        dcc = readDcc(type.text!);
      } catch (err) {
        throw new ProblemError('CLOUD_VALIDATION', 'the Digital Calibration Certificate cannot be read', {
          errors: [{ path: 'content', message: (err as Error).message }],
        });
      }
    }
    return { filename: r.data.filename, bytes, type, dcc };
  }

  /**
   * What a DCC says, read without storing anything: the portal fills a calibration being recorded
   * from it (points, readings, limits, verdicts, date, certificate number). A PDF is 400.
   */
  readDcc(raw: unknown): DccSummary {
    const { dcc } = this.decode(raw);
    if (!dcc)
      throw new ProblemError('CLOUD_VALIDATION', 'the file is not a Digital Calibration Certificate', {
        errors: [{ path: 'content', message: `must be DCC XML (root dcc:${DCC_ROOT} in ${DCC_NS})` }],
      });
    return dcc;
  }

  async attach(v: ExportCaller, calibrationId: string, raw: unknown): Promise<CertificateView> {
    const { filename, bytes, type, dcc } = this.decode(raw);
    const cal = await this.visibleCalibration(v, calibrationId);
    const differences: CertificateDifference[] = dcc
      ? dccDifferences(dcc, JSON.parse(cal.body) as CalibrationBody)
      : [];
    const row: CertificateRow = {
      tenant_id: v.tenantId,
      id: randomUUID(),
      calibration_id: cal.id,
      equipment: cal.equipment,
      kind: type.kind,
      filename,
      media_type: type.mediaType,
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      dcc: dcc ? JSON.stringify(dcc) : null,
      differences: JSON.stringify(differences),
      uploaded_by: v.actor.type === 'user' ? `user:${v.actor.id}` : `${v.actor.type}:${v.actor.id}`,
      uploaded_at: new Date().toISOString(),
    };
    await committed(this.db, async () => {
      await this.repo.insert(row, bytes);
      await this.audit.record({
        tenantId: v.tenantId,
        action: 'calibration.certificate.attach',
        outcome: 'success',
        actor: v.actor,
        address: v.address,
        target: { type: 'calibration', id: cal.id },
        after: {
          certificate: row.id,
          equipment: cal.equipment,
          kind: row.kind,
          filename: row.filename,
          size: row.size,
          sha256: row.sha256,
          ...(dcc ? { certificateNumber: dcc.certificateNumber, differences: differences.length } : {}),
        },
      });
    });
    return certificateView(row);
  }

  /**
   * The calibration as a Digital Calibration Certificate (DCC 3.3.0 XML), for viewers of its
   * equipment (else 404, as reading it; export control first).
   */
  async exportDcc(v: ExportCaller, calibrationId: string, now: Date = new Date()) {
    await this.named(v, calibrationId);
    const row = calibrationId.length <= 200 ? await this.repo.exportSource(v, calibrationId) : undefined;
    if (!row) throw new ProblemError('CLOUD_NOT_FOUND', 'no such calibration');
    const spec = JSON.parse(row.spec) as {
      make?: string;
      model?: string;
      serial?: string;
      firmware?: string;
      owner?: { kind: string; name?: string };
    };
    const xml = writeDcc({
      calibrationId: row.id,
      tenantName: row.tenant_name,
      siteName: row.site_name,
      equipment: {
        tag: row.equipment,
        type: row.type,
        make: spec.make,
        model: spec.model,
        serial: spec.serial,
        firmware: spec.firmware,
        owner: spec.owner,
      },
      body: JSON.parse(row.body) as CalibrationBody,
      enteredBy: row.entered_by,
      issuedAt: now.toISOString(),
      software: DCC_SOFTWARE,
    });
    return { xml, equipment: row.equipment };
  }

  /** The certificates of a calibration (without their content), as the caller sees them. */
  async list(v: ExportCaller, calibrationId: string): Promise<CertificateView[]> {
    await this.visibleCalibration(v, calibrationId);
    return (await this.repo.list(v, calibrationId)).map(certificateView);
  }

  /** One certificate file of a calibration, as the caller sees it (export control first), or 404. */
  async file(v: ExportCaller, calibrationId: string, id: string) {
    await this.named(v, calibrationId);
    const row = id.length <= 64 ? await this.repo.file(v, calibrationId, id) : undefined;
    if (!row) throw new ProblemError('CLOUD_NOT_FOUND', 'no such certificate');
    return row;
  }
}
