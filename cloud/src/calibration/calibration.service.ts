import { createHash, randomUUID } from 'node:crypto';
import {
  assetTagSchema,
  calibrationBodySchema,
  canonicalJson,
  dateSchema,
  label,
  text,
  type CalibrationBody,
  type RigRecord,
} from '@rigtrace/protocols';
import { z } from 'zod';
import type { Db } from '../platform/db/db.js';
import { addDays, dueAfter, localDay } from '../platform/time-zone.js';
import { compareText } from '../platform/compare.js';
import { ProblemError } from '../platform/errors.js';
import {
  type CalibrationListRow,
  type CalibrationRepository,
  type CalibrationRow,
  type PassFail,
  type ReviewPurpose,
  type ReviewState,
  type SignatureRow,
} from './calibration.repository.js';
import {
  ATTENTION_NOW,
  type EquipmentRepository,
  type EquipmentRow,
  type EquipmentWrite,
  type StatusCache,
} from './equipment.repository.js';
import type { GaugeUse, InspectionRepository, PositionUse, TraceableRow } from '../production/index.js';
import type { TenancyRepository } from '../tenancy/index.js';
import {
  type ExportCaller,
  type ExportControlService,
  exportControlSchema,
} from '../export-control/index.js';
import type { AuditService } from '../audit/index.js';
import { viewerSees, viewerSeesEquipment, wholeTenant, type Viewer } from '../access/index.js';
import type { DomainEventBus } from '../platform/events.js';
import { committed, emitAfterCommit } from '../platform/after-commit.js';
import { verdictMismatches } from './verdicts.js';
import type { NextPm, PreventiveTasks } from './preventive.js';
import { ProcedureRepository } from './procedure.repository.js';
import { environmentIssues, ProcedureService } from './procedure.service.js';
import { PositionRepository } from './positions.repository.js';
import { PositionService } from './positions.service.js';
import { columnOf, headerColumns, parseCsv, rowToEntry, type CsvProblem } from './register-csv.js';

/** The words of a traceability issue: the certificate cited for a standard is not the register's. */
export const CERTIFICATE_DIFFERS = 'the certificate cited is';

/** The tenant default for the due-soon window (recall lead time) when the tenant has set none. */
export const DEFAULT_DUE_SOON_DAYS = 30;
/** With a usage interval, due-soon starts when this share of the cycles is used. */
export const CYCLES_DUE_SOON_SHARE = 0.9;

export type CalibrationStatus = 'current' | 'due-soon' | 'overdue' | 'out-of-tolerance';

// ---------------------------------------------------------------------------------------------
// Dates: calendar arithmetic in UTC on YYYY-MM-DD.

const DAY_MS = 86_400_000;
export const dateOf = (iso: string): string => iso.slice(0, 10);
export function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS);
}
/** RFC 3339 UTC text → ISO 8601 with milliseconds, whose text order is time order. */
export const normalizeTime = (t: string): string => new Date(t).toISOString();
export const today = (): string => new Date().toISOString().slice(0, 10);

// ---------------------------------------------------------------------------------------------
// Status rules (CALIBRATION.md states them; keep both in step).

export interface CalLite {
  id: string;
  calibratedAt: string;
  asFound: PassFail;
  asLeft: PassFail | null;
  traceability: 'ok' | 'flagged';
}

/** The state the instrument was left in: as-left when given, else as-found. */
export const leftResult = (c: CalLite): PassFail => c.asLeft ?? c.asFound;
/** A calibration that establishes a new due date: left in tolerance, and its standards were fit for use. */
export const isValid = (c: CalLite): boolean => leftResult(c) === 'pass' && c.traceability === 'ok';
/** A calibration that shows the instrument out of tolerance: failed as found, or left failing. */
export const isFailure = (c: CalLite): boolean => c.asFound === 'fail' || leftResult(c) === 'fail';

const byTime = (a: CalLite, b: CalLite) =>
  compareText(a.calibratedAt, b.calibratedAt) || compareText(a.id, b.id);

export interface CalendarState {
  lastValid: CalLite | null;
  nextDue: string | null;
  outOfTolerance: boolean;
}

/**
 * What the calibration history alone says (no date, no usage): last valid, next due, out of
 * tolerance. `zone`: the time zone of the equipment's site, whose calendar day of the last valid
 * calibration the interval is counted from.
 */
export function calendarState(cals: readonly CalLite[], intervalDays: number, zone: string): CalendarState {
  const sorted = [...cals].sort(byTime);
  let lastValidIdx = -1;
  let lastFailureIdx = -1;
  sorted.forEach((c, i) => {
    if (isValid(c)) lastValidIdx = i;
    if (isFailure(c)) lastFailureIdx = i;
  });
  const lastValid = lastValidIdx >= 0 ? sorted[lastValidIdx]! : null;
  return {
    lastValid,
    nextDue: lastValid ? dueAfter(lastValid.calibratedAt, intervalDays, zone) : null,
    // A failure stays open until a valid calibration at or after it (the same one, if adjusted and left passing).
    outOfTolerance: lastFailureIdx >= 0 && lastValidIdx < lastFailureIdx,
  };
}

export function statusOn(
  s: CalendarState,
  asOf: string,
  dueSoonDays: number,
  cycles?: { used: number; interval: number },
): CalibrationStatus {
  if (s.outOfTolerance) return 'out-of-tolerance';
  if (s.nextDue === null || asOf > s.nextDue) return 'overdue';
  if (cycles && cycles.used >= cycles.interval) return 'overdue';
  if (asOf >= addDays(s.nextDue, -dueSoonDays)) return 'due-soon';
  if (cycles && cycles.used >= cycles.interval * CYCLES_DUE_SOON_SHARE) return 'due-soon';
  return 'current';
}

export function cacheOf(s: CalendarState): StatusCache {
  return {
    lastValidAt: s.lastValid?.calibratedAt ?? null,
    nextDue: s.nextDue,
    outOfTolerance: s.outOfTolerance,
    dueSort: s.outOfTolerance || s.nextDue === null ? ATTENTION_NOW : s.nextDue,
  };
}

export const calLite = (r: CalibrationRow): CalLite => ({
  id: r.id,
  calibratedAt: r.calibrated_at,
  asFound: r.as_found,
  asLeft: r.as_left,
  traceability: r.traceability,
});

// ---------------------------------------------------------------------------------------------
// Input schemas.

const ownerSchema = z.strictObject({
  kind: z.enum(['company', 'customer', 'supplier', 'employee']),
  name: label(128).optional(),
});

/** The register entry, as written by PUT (the tag comes from the path) and POST (with the tag). */
export const equipmentBodySchema = z
  .strictObject({
    siteId: label(128),
    type: label(64),
    make: label(128).optional(),
    model: label(128).optional(),
    serial: label(128).optional(),
    firmware: label(128).optional(),
    location: label(128).optional(),
    owner: ownerSchema.default({ kind: 'company' }),
    range: z
      .strictObject({ min: z.number(), max: z.number(), unit: label(16) })
      .refine((r) => r.min <= r.max, { message: 'min must not be greater than max', path: ['min'] })
      .optional(),
    resolution: z.number().positive().optional(),
    procedure: z.strictObject({ id: label(64), revision: label(32).optional() }).optional(),
    intervalDays: z.int().min(1).max(3650),
    intervalCycles: z.int().min(1).optional(),
    /** The recall lead time for this equipment; absent: the tenant default. */
    dueSoonDays: z.int().min(0).max(365).optional(),
    acceptanceCriteria: text(1024).optional(),
    environment: text(256).optional(),
    /** Present when the equipment is a reference standard: its own certificate. */
    referenceStandard: z
      .strictObject({
        certificate: label(64).optional(),
        dueDate: dateSchema.optional(),
        uncertainty: z.number().nonnegative().optional(),
        uncertaintyUnit: label(16).optional(),
      })
      .optional(),
    /** ITAR/EAR: served only to users cleared as US persons (CALIBRATION.md, Export control). */
    exportControl: exportControlSchema.optional(),
  })
  .refine((e) => e.dueSoonDays === undefined || e.dueSoonDays < e.intervalDays, {
    message: 'dueSoonDays must be shorter than intervalDays',
    path: ['dueSoonDays'],
  });
export type EquipmentBody = z.output<typeof equipmentBodySchema>;

/**
 * An electronic signature as the client sends it: the signer's password again (re-authentication
 * at the moment of signing) and what the signature means ("performed", "reviewed", …).
 */
export const signatureInputSchema = z.strictObject({
  password: z.string().min(1).max(1024),
  meaning: label(64),
});

export const manualCalibrationSchema = z.strictObject({
  equipment: assetTagSchema,
  /** The entry returned for correction that this one replaces (same equipment). */
  corrects: z
    .string()
    .regex(/^manual:[0-9a-f-]{36}$/, 'must be the id of a manual entry (manual:<uuid>)')
    .optional(),
  /** Who performed or entered it (name and qualification); the authenticated principal is kept as well. */
  enteredBy: label(128),
  body: calibrationBodySchema.refine((b) => b.approval === undefined, {
    message:
      'a manual entry is approved by a second person (POST /calibrations/{id}/approve), not in its body',
    path: ['approval'],
  }),
  signature: signatureInputSchema,
});

/** The signed-in user who signs, and how to re-authenticate them (AuthService.reauthenticateSigner). */
export interface Signer {
  user: { id: string; email: string; name: string; role: string };
  address: string | null;
  /** Throws CLOUD_REAUTH_FAILED (counted toward lockout, audited) when the password is wrong. */
  reauthenticate(
    password: string,
    what: { action: string; target: { type: string; id: string }; meaning: string },
  ): Promise<void>;
}

/** A rejection or a return for correction: signed like an approval, with the reviewer's reason. */
export const reviewWithReasonSchema = signatureInputSchema.extend({ reason: text(2000) });

/** What runs inside the transactions that store or void a calibration (out-of-tolerance cases). */
export interface CalibrationHooks {
  /** A calibration event was stored (from an edge record or a manual entry). */
  stored?(
    tenantId: string,
    c: { id: string; equipment: string; siteId: string | null; passed: boolean },
  ): Promise<void>;
  /** A manual entry was rejected or returned for correction: it no longer counts. */
  voided?(tenantId: string, c: { id: string; equipment: string; reason: string }): Promise<void>;
}

/** The three decisions of a second person about a manual entry. */
export type ReviewDecision = 'approve' | 'reject' | 'return';
const PURPOSE_OF: Record<ReviewDecision, ReviewPurpose> = {
  approve: 'approval',
  reject: 'rejection',
  return: 'return',
};
const STATE_OF: Record<ReviewPurpose, Exclude<ReviewState, 'pending'>> = {
  approval: 'approved',
  rejection: 'rejected',
  return: 'returned',
};
const PAST: Record<ReviewPurpose, string> = {
  approval: 'approved',
  rejection: 'rejected',
  return: 'returned for correction',
};

export const settingsSchema = z.strictObject({ dueSoonDays: z.int().min(0).max(365) });

/**
 * What the caller of a register write may see: its site scope and export clearance. A site
 * outside the scope, or a tag taken by an entry the caller may not see, is refused with one
 * answer (REGISTER_REFUSED) that says nothing about whether the tag exists (ACCOUNTS.md); the
 * service audits the probe of a hidden tag (`CalibrationService.hiddenTag`).
 */
export type RegisterScope = Pick<Viewer, 'sites' | 'cleared'>;

export const REGISTER_REFUSED = 'this equipment may not be registered or changed by you';
/** Export control is set only by people cleared for export-controlled data (CALIBRATION.md, Export control). */
export const EXPORT_FLAG_REFUSED = 'only a user cleared for export-controlled data may set export control';

/** The entry is invisible to the caller: another site than theirs, or export-controlled and not cleared. */
export const hiddenFrom = (scope: RegisterScope, e: EquipmentRow): boolean => !viewerSeesEquipment(scope, e);

/** The register write of a checked entry. */
function equipmentWrite(tag: string, b: EquipmentBody): EquipmentWrite {
  const { siteId, type, intervalDays, ...spec } = b;
  return {
    tag,
    siteId,
    type,
    intervalDays,
    intervalCycles: b.intervalCycles ?? null,
    dueSoonDays: b.dueSoonDays ?? null,
    isReferenceStandard: b.referenceStandard !== undefined,
    stdDueDate: b.referenceStandard?.dueDate ?? null,
    spec: JSON.stringify(spec),
    exportRegime: b.exportControl?.regime ?? null,
    exportEccn: b.exportControl?.eccn ?? null,
  };
}

/** At most this many rows per register import (a larger register is imported in parts). */
export const REGISTER_IMPORT_MAX_ROWS = 5000;
export const registerImportSchema = z.strictObject({
  csv: z.string().min(1).max(5_000_000),
  /** Check only (the default): answer every row's problems and change nothing. */
  dryRun: z.boolean().default(true),
});
export interface RegisterImportRow {
  line: number;
  tag: string | null;
  problems: CsvProblem[];
}
export interface RegisterImport {
  dryRun: boolean;
  rows: RegisterImportRow[];
  total: number;
  created: string[];
}

function validation(err: z.ZodError, prefix: string[] = []): ProblemError {
  return new ProblemError('CLOUD_VALIDATION', 'the request body is not valid', {
    errors: err.issues.map((i) => ({
      path: [...prefix, ...i.path.map(String)].join('.'),
      message: i.message,
    })),
  });
}

// ---------------------------------------------------------------------------------------------
// Views.

export interface CalibrationView {
  id: string;
  equipment: string;
  source: 'record' | 'manual';
  record: { edge: string; seq: number } | null;
  calibratedAt: string;
  asFoundResult: PassFail;
  asLeftResult: PassFail | null;
  valid: boolean;
  traceability: { status: 'ok' | 'flagged'; issues: string[] };
  enteredBy: string | null;
  recordedBy: string | null;
  evidenceSha256: string | null;
  createdAt: string;
  body: CalibrationBody;
  /** The entry's electronic signature (manual entries signed by a user); null otherwise. */
  signature: SignatureView | null;
  /**
   * Manual entries: pending until a second person reviews it (approved, rejected, or returned
   * for correction; the last two with the reviewer's reason). Null for calibrations from edge
   * records, which carry their own approval in the record body (`body.approval`).
   */
  approval: { state: 'pending' } | ({ state: Exclude<ReviewState, 'pending'> } & SignatureView) | null;
  /** A corrected entry: the returned entry it replaces. */
  corrects: string | null;
}

export interface SignatureView {
  by: { id: string; email: string; name: string; role: string };
  meaning: string;
  signedAt: string;
  /** The SHA-256 of the entry's canonical JSON this signature is bound to. */
  contentSha256: string;
  signatureSha256: string;
  /** The entry still hashes to contentSha256, and the signature manifest to signatureSha256. */
  valid: boolean;
  /** A rejection's or return's reason (bound into the signature). */
  reason?: string;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** The canonical JSON (RFC 8785) of a manual entry: what its evidence hash and signatures cover. */
export function manualEntryJson(e: {
  id: string;
  tenantId: string;
  equipment: string;
  enteredBy: string | null;
  recordedBy: string | null;
  at: string;
  body: unknown;
}): string {
  return canonicalJson({
    id: e.id,
    tenantId: e.tenantId,
    equipment: e.equipment,
    enteredBy: e.enteredBy,
    recordedBy: e.recordedBy,
    at: e.at,
    body: e.body,
  });
}

/** The SHA-256 of a manual calibration row as stored now (recomputed, not read). */
export function contentHashOf(r: CalibrationRow): string {
  return sha256(
    manualEntryJson({
      id: r.id,
      tenantId: r.tenant_id,
      equipment: r.equipment,
      enteredBy: r.entered_by,
      recordedBy: r.recorded_by,
      at: r.created_at,
      body: JSON.parse(r.body) as unknown,
    }),
  );
}

/** The signature manifest: who signed what (by hash), meaning what, when (and why, for a rejection or return). */
export function signatureManifest(s: Omit<SignatureRow, 'signature_sha256' | 'address'>): string {
  return canonicalJson({
    v: 1,
    tenant: s.tenant_id,
    calibration: s.calibration_id,
    purpose: s.purpose,
    contentSha256: s.content_sha256,
    signer: { id: s.user_id, email: s.user_email, name: s.user_name, role: s.user_role },
    meaning: s.meaning,
    signedAt: s.signed_at,
    ...(s.reason !== null && s.reason !== undefined ? { reason: s.reason } : {}),
  });
}

function signatureView(s: SignatureRow, contentSha256: string): SignatureView {
  return {
    by: { id: s.user_id, email: s.user_email, name: s.user_name, role: s.user_role },
    meaning: s.meaning,
    signedAt: s.signed_at,
    contentSha256: s.content_sha256,
    signatureSha256: s.signature_sha256,
    valid: s.content_sha256 === contentSha256 && sha256(signatureManifest(s)) === s.signature_sha256,
    ...(s.reason !== null && s.reason !== undefined ? { reason: s.reason } : {}),
  };
}

export function calibrationView(r: CalibrationRow, sigs: readonly SignatureRow[] = []): CalibrationView {
  const mine = sigs.filter((s) => s.calibration_id === r.id);
  const content = r.source === 'manual' ? contentHashOf(r) : '';
  const entry = mine.find((s) => s.purpose === 'entry');
  const review = mine.find((s) => s.purpose !== 'entry');
  return {
    id: r.id,
    equipment: r.equipment,
    source: r.source,
    record: r.edge_id !== null && r.seq !== null ? { edge: r.edge_id, seq: r.seq } : null,
    calibratedAt: r.calibrated_at,
    asFoundResult: r.as_found,
    asLeftResult: r.as_left,
    valid: isValid(calLite(r)),
    traceability: { status: r.traceability, issues: JSON.parse(r.trace_issues) as string[] },
    enteredBy: r.entered_by,
    recordedBy: r.recorded_by,
    evidenceSha256: r.evidence_sha256,
    createdAt: r.created_at,
    body: JSON.parse(r.body) as CalibrationBody,
    signature: entry ? signatureView(entry, content) : null,
    approval:
      r.source !== 'manual'
        ? null
        : review
          ? { state: STATE_OF[review.purpose as ReviewPurpose], ...signatureView(review, content) }
          : { state: 'pending' },
    corrects: r.corrects ?? null,
  };
}

function equipmentView(e: EquipmentRow) {
  const spec = JSON.parse(e.spec) as Omit<EquipmentBody, 'siteId' | 'type' | 'intervalDays'>;
  return {
    tag: e.tag,
    siteId: e.site_id,
    type: e.type,
    ...spec,
    intervalDays: e.interval_days,
    createdAt: e.created_at,
    updatedAt: e.updated_at,
    retiredAt: e.retired_at,
  };
}

export interface StatusView {
  status: CalibrationStatus;
  asOf: string;
  lastValidCalibrationAt: string | null;
  nextDue: string | null;
  daysUntilDue: number | null;
  dueSoonDays: number;
  cycles: { used: number; interval: number } | null;
}

// ---------------------------------------------------------------------------------------------

/**
 * The calibration engine: the equipment register, calibration events (derived from ingested
 * records, or entered by a technician), status and due dates, reference-standard traceability.
 */
export class CalibrationService {
  private hooks: CalibrationHooks = {};
  /** Calibration procedures (points, limits, standards, environment) that calibrations follow. */
  readonly procedures: ProcedureService;
  /** Positions in rigs, benches and stations, and the devices installed in them. */
  readonly positions: PositionService;

  constructor(
    private readonly db: Db,
    private readonly tenancy: TenancyRepository,
    private readonly equipment: EquipmentRepository,
    private readonly calibrations: CalibrationRepository,
    private readonly index: InspectionRepository,
    /** Signatures, approvals and their refusals go on the tenant's audit trail. */
    private readonly audit: AuditService,
    /**
     * Export control of the equipment a request names (`mustGet`, `calibrationRow`): a refusal is
     * audited before the 404, a cleared caller's access is logged; so is the probe of a register
     * write at a tag the caller may not see (`refused`), and the calibrations a read serves.
     */
    private readonly exportControl: Pick<ExportControlService, 'equipmentNamed' | 'refused' | 'logAccess'>,
    /** Committed calibrations and status changes are announced here (live updates). */
    private readonly events?: DomainEventBus,
    /** The time "today" is read from (tests); default the system clock. */
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.procedures = new ProcedureService(new ProcedureRepository(db));
    this.positions = new PositionService(db, new PositionRepository(db), equipment, audit);
  }

  /** Each site's IANA time zone, by site id (a site not found reads as UTC). */
  private async zones(tenantId: string): Promise<Map<string, string>> {
    return new Map((await this.tenancy.sites(wholeTenant(tenantId))).map((s) => [s.id, s.time_zone]));
  }

  /** The IANA time zone of the site of equipment `tag` (UTC for equipment not registered). */
  async zoneOf(tenantId: string, tag: string): Promise<string> {
    const site = (await this.equipment.find(wholeTenant(tenantId), tag))?.site_id;
    return site === undefined ? 'UTC' : this.zoneAt(tenantId, site);
  }

  /** The IANA time zone of the site `siteId` (UTC for a site not found). */
  private async zoneAt(tenantId: string, siteId: string): Promise<string> {
    return (await this.tenancy.sites(wholeTenant(tenantId), [siteId]))[0]?.time_zone ?? 'UTC';
  }

  /** Today's date in the calendar of the site `siteId` (its local day, not the UTC one). */
  private async todayAt(tenantId: string, siteId: string): Promise<string> {
    return localDay(this.clock().getTime(), await this.zoneAt(tenantId, siteId));
  }

  /** What else runs inside the transactions that store or void a calibration (server.ts wires them). */
  setHooks(hooks: CalibrationHooks): void {
    this.hooks = hooks;
  }

  // -- derivation from ingest ------------------------------------------------------------------

  /**
   * The ingest hook: runs inside the ingest transaction, after the batch's records are stored.
   * Calibration records become calibration events (id "edge:seq", stored once); usage and
   * inspection records are indexed for traceability. Idempotent.
   */
  async onRecordsStored(
    tenantId: string,
    edge: { id: string; siteId: string },
    records: readonly RigRecord[],
  ): Promise<void> {
    const rows: TraceableRow[] = [];
    const gauges: GaugeUse[] = [];
    const positions: PositionUse[] = [];
    const touched = new Set<string>();
    for (const r of records) {
      // The positions a telemetry point or an inspection characteristic names (RECORDS.md,
      // "Positions"), once per record; resolved to the installed device when read.
      if (r.kind === 'telemetry' || r.kind === 'inspection') {
        const items: readonly { position?: unknown }[] =
          r.kind === 'telemetry' ? r.body.points : r.body.characteristics;
        const named = new Set<string>();
        for (const x of items) if (typeof x.position === 'string') named.add(x.position);
        for (const position of named)
          positions.push({
            edgeId: edge.id,
            seq: r.seq,
            position,
            kind: r.kind,
            equipment: r.equipment,
            observedAt: normalizeTime(r.observedAt),
          });
      }
      if (r.kind !== 'usage' && r.kind !== 'inspection') continue;
      const observedAt = normalizeTime(r.observedAt);
      const base = { edgeId: edge.id, seq: r.seq, siteId: edge.siteId, equipment: r.equipment, observedAt };
      if (r.kind === 'usage') {
        rows.push({
          ...base,
          kind: 'usage',
          partSerial: r.body.partSerial ?? null,
          workOrder: r.body.workOrder ?? null,
          result: null,
          cycles: r.body.cycles ?? null,
        });
      } else {
        rows.push({
          ...base,
          kind: 'inspection',
          partSerial: r.body.partSerial,
          workOrder: r.body.workOrder ?? null,
          result: r.body.result,
          cycles: null,
        });
        const used = new Set(r.body.gauges ?? []);
        // A characteristic may name the gauge that measured it (newer record bodies).
        for (const c of r.body.characteristics as readonly { gauge?: unknown }[])
          if (typeof c.gauge === 'string') used.add(c.gauge);
        for (const g of used) gauges.push({ gauge: g, observedAt, edgeId: edge.id, seq: r.seq });
      }
    }
    // Indexed before the batch's calibrations are derived: a calibration's hooks (an
    // out-of-tolerance case and its suspect records) see the records that came with it.
    if (rows.length || gauges.length || positions.length)
      await this.index.insert(tenantId, rows, gauges, positions);
    for (const r of records) {
      if (r.kind !== 'calibration') continue;
      const calibratedAt = normalizeTime(r.body.calibratedAt);
      const issues = await this.traceabilityIssues(tenantId, r.equipment, r.body, calibratedAt);
      const stored = await this.calibrations.insert(
        tenantId,
        {
          id: `${edge.id}:${r.seq}`,
          equipment: r.equipment,
          source: 'record',
          edge_id: edge.id,
          seq: r.seq,
          calibrated_at: calibratedAt,
          as_found: r.body.asFoundResult,
          as_left: r.body.asLeftResult ?? null,
          traceability: issues.length ? 'flagged' : 'ok',
          trace_issues: JSON.stringify(issues),
          body: canonicalJson(r.body),
          entered_by: r.body.technician ?? null,
          recorded_by: `edge:${edge.id}`,
          evidence_sha256: null,
        },
        new Date().toISOString(),
      );
      if (stored) await this.announce(tenantId, r.equipment, `${edge.id}:${r.seq}`, r.body, edge.siteId);
      touched.add(r.equipment);
    }
    for (const tag of touched) await this.refresh(tenantId, tag);
  }

  /**
   * Why a calibration at `at` cannot be trusted because of its reference standards: a standard
   * whose certificate (as the calibration states it) was past due, or a registered standard that
   * was out of tolerance or overdue at that time by its own calibration history in this cloud (or,
   * with no history here before then, past the due date of the certificate in the register).
   */
  async traceabilityIssues(
    tenantId: string,
    tag: string,
    body: CalibrationBody,
    at: string,
  ): Promise<string[]> {
    const issues: string[] = [];
    for (const m of verdictMismatches(body))
      if (m.recorded === 'pass')
        issues.push(
          `${m.path.replace(/^body\./, '')}: recorded as pass, but ${m.message.replace(/^must be "fail": /, '')}`,
        );
    const procedure = await this.procedures.of(tenantId, body);
    if (procedure) issues.push(...environmentIssues(procedure, body));
    for (const s of body.standards) issues.push(...(await this.standardIssues(tenantId, tag, s, at)));
    return issues;
  }

  /**
   * Why one reference standard makes a calibration of `tag` at `at` untrustworthy (each line
   * starts with the standard's tag): its certificate as cited was past due; it was out of
   * tolerance or overdue at the time by its own history here (or, with none, by the register's
   * certificate due date); it is the calibrated equipment itself; or (`registerCertificate`, when
   * the calibration is stored) the certificate cited is not the register's current one.
   */
  async standardIssues(
    tenantId: string,
    tag: string,
    s: CalibrationBody['standards'][number],
    at: string,
    opts: { registerCertificate?: boolean } = {},
  ): Promise<string[]> {
    const issues: string[] = [];
    if (s.id === tag) return [`${s.id}: the equipment is listed as its own reference standard`];
    // The calibration's date: its local day at the calibrated equipment's site.
    const day = localDay(Date.parse(at), await this.zoneOf(tenantId, tag));
    if (s.dueDate !== undefined && s.dueDate < day) {
      issues.push(`${s.id}: its certificate was due ${s.dueDate}, before the calibration on ${day}`);
    }
    const std = await this.equipment.find(wholeTenant(tenantId), s.id);
    if (!std) return issues;
    if (opts.registerCertificate !== false && s.certificate !== undefined) {
      const current = (JSON.parse(std.spec) as { referenceStandard?: { certificate?: string } })
        .referenceStandard?.certificate;
      if (current !== undefined && current !== s.certificate)
        issues.push(
          `${s.id}: ${CERTIFICATE_DIFFERS} ${s.certificate}, the register's current one is ${current}`,
        );
    }
    const history = (await this.calibrations.forEquipment(wholeTenant(tenantId), s.id))
      .map(calLite)
      .filter((c) => c.calibratedAt <= at);
    if (history.length > 0) {
      const state = calendarState(history, std.interval_days, await this.zoneAt(tenantId, std.site_id));
      const status = statusOn(state, day, 0);
      if (status === 'out-of-tolerance') issues.push(`${s.id}: out of tolerance at the time`);
      else if (status === 'overdue')
        issues.push(
          `${s.id}: overdue at the time (${state.nextDue ? `due ${state.nextDue}` : 'no valid calibration'})`,
        );
    } else if (std.std_due_date !== null && std.std_due_date < day) {
      issues.push(`${s.id}: its registered certificate was due ${std.std_due_date}, before ${day}`);
    }
    return issues;
  }

  /**
   * What derives the records about a tag that the cloud holds but never derived (stored before
   * the calibration engine existed): its calibration records become events, its usage and
   * inspection records enter the traceability index; idempotent, it answers how many records.
   * Asked once per registration request, however many tags it registers: a tenant without
   * records from before the engine (migration 94) gets a step that reads nothing.
   */
  private async backfiller(tenantId: string): Promise<(tag: string) => Promise<number>> {
    if (!(await this.calibrations.mayHoldUnderived(wholeTenant(tenantId)))) return () => Promise.resolve(0);
    return async (tag) => {
      const rows = await this.calibrations.underivedRecords(wholeTenant(tenantId), tag);
      const byEdge = new Map<string, { siteId: string; records: RigRecord[] }>();
      for (const r of rows) {
        const g = byEdge.get(r.edge_id) ?? { siteId: r.site_id, records: [] };
        g.records.push(JSON.parse(r.json) as RigRecord);
        byEdge.set(r.edge_id, g);
      }
      for (const [id, g] of byEdge) await this.onRecordsStored(tenantId, { id, siteId: g.siteId }, g.records);
      return rows.length;
    };
  }

  /** Recomputes the cached calendar status of registered equipment from its calibrations. */
  async refresh(tenantId: string, tag: string): Promise<void> {
    const e = await this.equipment.find(wholeTenant(tenantId), tag);
    if (!e) return;
    const cals = (await this.calibrations.forEquipment(wholeTenant(tenantId), tag)).map(calLite);
    const cache = cacheOf(calendarState(cals, e.interval_days, await this.zoneAt(tenantId, e.site_id)));
    await this.equipment.setStatusCache(tenantId, tag, cache);
    if (this.events) {
      const [asOf, dflt] = [await this.todayAt(tenantId, e.site_id), await this.dueSoonDefault(tenantId)];
      const from = this.cachedStatus(e, asOf, dflt).status;
      const after = { ...e, next_due: cache.nextDue, out_of_tolerance: cache.outOfTolerance ? 1 : 0 };
      const to = this.cachedStatus(after, asOf, dflt).status;
      if (from !== to)
        emitAfterCommit(this.events, 'equipment.status', { tenantId, siteId: e.site_id, tag, from, to });
    }
  }

  /**
   * The site's time zone changed: its equipment's due dates, counted from local calendar days,
   * are recounted (inside the caller's transaction) from each entry's cached last valid
   * calibration, the only part of the cached state the zone changes: 500 entries per read and
   * one UPDATE per 500 changed, not a history read and a write per instrument. The entries whose
   * status changes with it (due soon, overdue) are announced as `refresh` announces them.
   */
  async refreshSite(tenantId: string, siteId: string): Promise<void> {
    const zone = await this.zoneAt(tenantId, siteId);
    const asOf = localDay(this.clock().getTime(), zone);
    const dflt = await this.dueSoonDefault(tenantId);
    const PAGE = 500;
    for (let after: string | undefined; ;) {
      const rows = await this.equipment.list(wholeTenant(tenantId), {
        siteId,
        includeRetired: true,
        afterTag: after,
        limit: PAGE,
      });
      const dues: { tag: string; nextDue: string }[] = [];
      for (const e of rows) {
        if (e.last_valid_at === null) continue;
        const nextDue = dueAfter(e.last_valid_at, e.interval_days, zone);
        if (nextDue === e.next_due) continue;
        dues.push({ tag: e.tag, nextDue });
        if (!this.events) continue;
        const from = this.cachedStatus(e, asOf, dflt).status;
        const to = this.cachedStatus({ ...e, next_due: nextDue }, asOf, dflt).status;
        if (from !== to)
          emitAfterCommit(this.events, 'equipment.status', { tenantId, siteId, tag: e.tag, from, to });
      }
      await this.equipment.setNextDue(tenantId, dues);
      if (rows.length < PAGE) return;
      after = rows.at(-1)!.tag;
    }
  }

  /**
   * A calibration was just stored (inside its transaction): the hooks run now, and it is
   * announced once the transaction commits; passed: in tolerance as found and as left.
   */
  private async announce(
    tenantId: string,
    tag: string,
    calibrationId: string,
    b: { asFoundResult: PassFail; asLeftResult?: PassFail | undefined },
    fallbackSiteId: string | null,
  ): Promise<void> {
    const siteId = (await this.equipment.find(wholeTenant(tenantId), tag))?.site_id ?? fallbackSiteId;
    const passed = b.asFoundResult === 'pass' && (b.asLeftResult ?? b.asFoundResult) === 'pass';
    await this.hooks.stored?.(tenantId, { id: calibrationId, equipment: tag, siteId, passed });
    if (this.events)
      emitAfterCommit(this.events, 'calibration.recorded', { tenantId, siteId, tag, calibrationId, passed });
  }

  // -- register --------------------------------------------------------------------------------

  private async parseEquipment(
    tenantId: string,
    tag: string,
    raw: unknown,
    scope?: RegisterScope,
  ): Promise<EquipmentWrite> {
    const r = equipmentBodySchema.safeParse(raw);
    if (!r.success) throw validation(r.error);
    const b = r.data;
    // Before the site's existence, so that a scoped caller learns nothing about other sites.
    if (scope && !viewerSees(scope, b.siteId)) throw new ProblemError('CLOUD_FORBIDDEN', REGISTER_REFUSED);
    if (scope && !scope.cleared && b.exportControl !== undefined)
      throw new ProblemError('CLOUD_FORBIDDEN', EXPORT_FLAG_REFUSED);
    if (!(await this.tenancy.siteExists(wholeTenant(tenantId), b.siteId))) {
      throw new ProblemError('CLOUD_VALIDATION', 'the request body is not valid', {
        errors: [{ path: 'siteId', message: 'no such site' }],
      });
    }
    return equipmentWrite(tag, b);
  }

  /**
   * Registers equipment. With `scope` (a caller's request), a tag already taken by an entry the
   * caller may not see is refused like a site outside the scope (403 REGISTER_REFUSED), not 409.
   */
  async create(tenantId: string, raw: unknown, scope?: ExportCaller) {
    const tagged = z.looseObject({ tag: assetTagSchema }).safeParse(raw);
    if (!tagged.success) throw validation(tagged.error);
    const { tag, ...rest } = tagged.data;
    const e = await this.parseEquipment(tenantId, tag, rest, scope);
    if (scope) {
      const existing = await this.equipment.find(wholeTenant(tenantId), tag);
      if (existing && hiddenFrom(scope, existing)) {
        await this.hiddenTag(scope, existing);
        throw new ProblemError('CLOUD_FORBIDDEN', REGISTER_REFUSED);
      }
    }
    return committed(this.db, async () => {
      if (!(await this.equipment.insert(tenantId, e, new Date().toISOString()))) {
        const taken = scope ? await this.equipment.find(wholeTenant(tenantId), tag) : undefined;
        if (scope && taken && hiddenFrom(scope, taken))
          throw new ProblemError('CLOUD_FORBIDDEN', REGISTER_REFUSED);
        throw new ProblemError('CLOUD_CONFLICT', `equipment ${tag} is already registered`);
      }
      // Calibrations, usage and inspections may have arrived before the equipment was
      // registered: those derived at ingest count from now on (refresh); records stored
      // before the engine derived anything are derived now (backfill).
      await (
        await this.backfiller(tenantId)
      )(tag);
      await this.refresh(tenantId, tag);
      return this.describe(wholeTenant(tenantId), tag);
    });
  }

  /** Replaces an entry; with `scope`, moving it to a site outside the caller's scope is refused (403). */
  async replace(tenantId: string, tag: string, raw: unknown, scope?: ExportCaller) {
    await this.existing(tenantId, tag);
    const e = await this.parseEquipment(tenantId, tag, raw, scope);
    return committed(this.db, async () => {
      if (!(await this.equipment.update(tenantId, e, new Date().toISOString())))
        throw new ProblemError('CLOUD_CONFLICT', `equipment ${tag} is retired`);
      await this.refresh(tenantId, tag);
      return this.describe(wholeTenant(tenantId), tag);
    });
  }

  /** Takes equipment out of service; its register entry and history stay (evidence is never deleted). */
  async retire(tenantId: string, tag: string): Promise<void> {
    await this.existing(tenantId, tag);
    if (!(await this.equipment.retire(tenantId, tag, new Date().toISOString())))
      throw new ProblemError('CLOUD_CONFLICT', `equipment ${tag} is already retired`);
  }

  /** Puts a retired entry back in service (its history is unchanged; its status is recomputed). */
  async reactivate(tenantId: string, tag: string) {
    await this.existing(tenantId, tag);
    return committed(this.db, async () => {
      if (!(await this.equipment.reactivate(tenantId, tag, new Date().toISOString())))
        throw new ProblemError('CLOUD_CONFLICT', `equipment ${tag} is not retired`);
      await this.refresh(tenantId, tag);
      return this.describe(wholeTenant(tenantId), tag);
    });
  }

  /**
   * Imports an existing register from CSV (register-csv.ts names the columns). Every row is
   * checked as POST /equipment would check it, and against the register and the file itself
   * (a tag registered already, or twice in the file); a dry run answers every row's problems
   * and changes nothing. Without dryRun, the rows are registered in one transaction, and only
   * when no row has a problem (otherwise 400 with the same rows, and nothing is registered).
   */
  async importRegister(tenantId: string, raw: unknown, scope: ExportCaller): Promise<RegisterImport> {
    const r = registerImportSchema.safeParse(raw);
    if (!r.success) throw validation(r.error);
    const { csv, dryRun } = r.data;
    const parsed = parseCsv(csv);
    const out: RegisterImportRow[] = [];
    const writes: EquipmentWrite[] = [];
    if (parsed.error) out.push({ line: 1, tag: null, problems: [{ column: '', message: parsed.error }] });
    const [header, ...body] = parsed.rows;
    if (!header) out.push({ line: 1, tag: null, problems: [{ column: '', message: 'the file is empty' }] });
    else if (body.length > REGISTER_IMPORT_MAX_ROWS)
      out.push({
        line: 1,
        tag: null,
        problems: [
          { column: '', message: `${body.length} rows: at most ${REGISTER_IMPORT_MAX_ROWS} per import` },
        ],
      });
    else {
      const { columns, problems } = headerColumns(header.cells);
      if (problems.length > 0) out.push({ line: header.line, tag: null, problems });
      else {
        const sites = new Map<string, boolean>();
        const lines = new Map<string, number>();
        for (const row of body) {
          const { entry, problems: rowProblems } = rowToEntry(columns, row.cells);
          const { tag, ...rest } = entry;
          const tagText = typeof tag === 'string' ? tag : null;
          const p: CsvProblem[] = [...rowProblems];
          if (!assetTagSchema.safeParse(tag).success)
            p.push({ column: 'tag', message: tag === undefined ? 'required' : 'not a valid asset tag' });
          const b = equipmentBodySchema.safeParse(rest);
          if (!b.success)
            for (const i of b.error.issues) {
              const column = columnOf(i.path.map(String).join('.'));
              // A cell already named as not a number is not also "missing".
              if (!rowProblems.some((q) => q.column === column)) p.push({ column, message: i.message });
            }
          if (!scope.cleared && b.success && b.data.exportControl !== undefined)
            p.push({ column: 'exportRegime', message: EXPORT_FLAG_REFUSED });
          const siteId = typeof rest.siteId === 'string' ? rest.siteId : null;
          if (siteId !== null) {
            if (!viewerSees(scope, siteId)) p.push({ column: 'siteId', message: REGISTER_REFUSED });
            else {
              if (!sites.has(siteId))
                sites.set(siteId, await this.tenancy.siteExists(wholeTenant(tenantId), siteId));
              if (!sites.get(siteId)) p.push({ column: 'siteId', message: 'no such site' });
            }
          }
          if (tagText !== null && assetTagSchema.safeParse(tagText).success) {
            const earlier = lines.get(tagText);
            if (earlier !== undefined)
              p.push({ column: 'tag', message: `the tag is also on line ${earlier}` });
            else lines.set(tagText, row.line);
            const existing = await this.equipment.find(wholeTenant(tenantId), tagText);
            if (existing && hiddenFrom(scope, existing)) {
              await this.hiddenTag(scope, existing);
              p.push({ column: 'tag', message: REGISTER_REFUSED });
            } else if (existing)
              p.push({ column: 'tag', message: 'already registered (edit it in the register)' });
          }
          out.push({ line: row.line, tag: tagText, problems: p });
          if (p.length === 0 && b.success) writes.push(equipmentWrite(tagText!, b.data));
        }
        if (body.length === 0)
          out.push({
            line: header.line,
            tag: null,
            problems: [{ column: '', message: 'no rows under the header' }],
          });
      }
    }
    const withProblems = out.filter((row) => row.problems.length > 0);
    const result = { dryRun, rows: out, total: Math.max(0, parsed.rows.length - 1), created: [] as string[] };
    if (dryRun) return result;
    if (withProblems.length > 0)
      throw new ProblemError(
        'CLOUD_VALIDATION',
        `${withProblems.length} row(s) have problems: nothing was imported`,
        {
          errors: withProblems.flatMap((row) =>
            row.problems.map((q) => ({
              path: `line ${row.line}${q.column ? `.${q.column}` : ''}`,
              message: q.message,
            })),
          ),
          rows: withProblems,
        },
      );
    return committed(this.db, async () => {
      const now = new Date().toISOString();
      const backfill = await this.backfiller(tenantId);
      for (const w of writes) {
        if (!(await this.equipment.insert(tenantId, w, now)))
          throw new ProblemError(
            'CLOUD_CONFLICT',
            `equipment ${w.tag} was registered meanwhile: nothing was imported`,
          );
        await backfill(w.tag);
        await this.refresh(tenantId, w.tag);
      }
      return { ...result, created: writes.map((w) => w.tag) };
    });
  }

  /**
   * A register write named a tag taken by an entry the caller may not see (answered 403
   * REGISTER_REFUSED, which does not say why): the probe is audited, as export control's refusal
   * when the entry is flagged and the caller not cleared, else as a refused registration.
   */
  private async hiddenTag(caller: ExportCaller, existing: EquipmentRow): Promise<void> {
    if (existing.export_regime !== null && !caller.cleared) {
      await this.exportControl.refused(caller, {
        type: 'equipment',
        id: existing.tag,
        flag: { regime: existing.export_regime, eccn: existing.export_eccn },
      });
      return;
    }
    await this.audit.record({
      tenantId: caller.tenantId,
      action: 'equipment.create',
      outcome: 'failure',
      actor: caller.actor,
      address: caller.address,
      target: { type: 'equipment', id: existing.tag },
      detail: `the tag belongs to equipment of a site outside the caller's sites (answered 403 ${caller.route})`,
    });
  }

  /**
   * The entry whatever the reader, or 404: for writes checking what exists and the product's own
   * derivations. A request's read is `mustGet` (export control, then `mustSee`).
   */
  private async existing(tenantId: string, tag: string): Promise<EquipmentRow> {
    const e = assetTagSchema.safeParse(tag).success
      ? await this.equipment.find(wholeTenant(tenantId), tag)
      : undefined;
    if (!e) throw new ProblemError('CLOUD_NOT_FOUND', 'no such equipment');
    return e;
  }

  /**
   * Equipment a request names (a path's `{tag}`, a body's `equipment`), before the feature reads
   * or writes it: export control first (`equipmentNamed`: flagged and the caller not cleared, the
   * refusal is audited and the answer 404; cleared, the access is logged), then the entry as the
   * caller sees it (`mustSee`: absent or of another site, 404).
   */
  async mustGet(caller: ExportCaller, tag: string): Promise<EquipmentRow> {
    if (assetTagSchema.safeParse(tag).success) await this.exportControl.equipmentNamed(caller, tag);
    return this.mustSee(caller, tag);
  }

  /** The entry as `v` sees it, or 404 (absent, of another site, or flagged and `v` not cleared). */
  async mustSee(v: Viewer, tag: string): Promise<EquipmentRow> {
    const e = assetTagSchema.safeParse(tag).success ? await this.equipment.find(v, tag) : undefined;
    if (!e) throw new ProblemError('CLOUD_NOT_FOUND', 'no such equipment');
    return e;
  }

  async dueSoonDefault(tenantId: string): Promise<number> {
    return (await this.equipment.dueSoonDefault(wholeTenant(tenantId))) ?? DEFAULT_DUE_SOON_DAYS;
  }

  async setSettings(tenantId: string, raw: unknown): Promise<{ dueSoonDays: number }> {
    const r = settingsSchema.safeParse(raw);
    if (!r.success) throw validation(r.error);
    await this.equipment.setDueSoonDefault(tenantId, r.data.dueSoonDays, new Date().toISOString());
    return r.data;
  }

  /**
   * The status from the full history (calendar and usage interval), as of a date. `asOf`: a date in the site's calendar; absent, today at the equipment's site (its local day).
   * The equipment's own state, the same for every reader who may see it: counted from all its
   * calibrations and every usage record of the tenant (a gauge lent to another site uses cycles
   * there too), so read tenant-wide.
   */
  async status(tenantId: string, e: EquipmentRow, asOf?: string): Promise<StatusView> {
    asOf ??= await this.todayAt(tenantId, e.site_id);
    const cals = (await this.calibrations.forEquipment(wholeTenant(tenantId), e.tag)).map(calLite);
    const state = calendarState(cals, e.interval_days, await this.zoneAt(tenantId, e.site_id));
    const dueSoonDays = e.due_soon_days ?? (await this.dueSoonDefault(tenantId));
    const cycles =
      e.interval_cycles !== null
        ? {
            used: await this.index.cyclesSince(
              wholeTenant(tenantId),
              e.tag,
              state.lastValid?.calibratedAt ?? null,
            ),
            interval: e.interval_cycles,
          }
        : undefined;
    return {
      status: statusOn(state, asOf, dueSoonDays, cycles),
      asOf,
      lastValidCalibrationAt: state.lastValid?.calibratedAt ?? null,
      nextDue: state.nextDue,
      daysUntilDue: state.nextDue ? daysBetween(asOf, state.nextDue) : null,
      dueSoonDays,
      cycles: cycles ?? null,
    };
  }

  async describe(v: Viewer, tag: string, asOf?: string) {
    const e = await this.mustSee(v, tag);
    return { ...equipmentView(e), calibration: await this.status(v.tenantId, e, asOf) };
  }

  /** One register entry a request names, with its status (as `describe`), export control first (`mustGet`). */
  async entry(caller: ExportCaller, tag: string, asOf?: string) {
    const e = await this.mustGet(caller, tag);
    return { ...equipmentView(e), calibration: await this.status(caller.tenantId, e, asOf) };
  }

  /** The register, with each entry's calendar status from the cache (usage intervals: see describe). */
  async list(
    v: Viewer,
    q: {
      siteId?: string | undefined;
      type?: string | undefined;
      includeRetired?: boolean;
      after?: string | undefined;
      limit: number;
    },
    /** A date in the sites' calendars; absent, today at each entry's site (its local day). */
    asOf?: string,
  ) {
    const tenantId = v.tenantId;
    const rows = await this.equipment.list(v, { ...q, afterTag: q.after });
    const dflt = await this.dueSoonDefault(tenantId);
    const [zones, now] = [await this.zones(tenantId), this.clock().getTime()];
    const items = [];
    for (const e of rows)
      items.push({
        ...equipmentView(e),
        calibration: this.cachedStatus(
          e,
          asOf ?? localDay(now, zones.get(e.site_id) ?? 'UTC'),
          dflt,
          await this.cyclesOf(tenantId, e),
        ),
      });
    return { items, next: rows.length === q.limit ? (rows.at(-1)?.tag ?? null) : null };
  }

  /**
   * The cached status and next due date of each of `tags` the register holds (retired ones left
   * out), as of today at each one's site: what the live floor shows of a gauge.
   */
  async statusesOf(
    tenantId: string,
    tags: readonly string[],
  ): Promise<Map<string, { status: CalibrationStatus; nextDue: string | null }>> {
    const out = new Map<string, { status: CalibrationStatus; nextDue: string | null }>();
    if (tags.length === 0) return out;
    const [dflt, zones, now] = [
      await this.dueSoonDefault(tenantId),
      await this.zones(tenantId),
      this.clock().getTime(),
    ];
    for (const e of await this.equipment.getMany(wholeTenant(tenantId), [...new Set(tags)])) {
      if (e.retired_at !== null) continue;
      const asOf = localDay(now, zones.get(e.site_id) ?? 'UTC');
      const s = this.cachedStatus(e, asOf, dflt, await this.cyclesOf(tenantId, e));
      out.set(e.tag, { status: s.status, nextDue: s.nextDue });
    }
    return out;
  }

  /** Usage cycles since the last valid calibration, for equipment with a usage interval (else null). */
  private async cyclesOf(
    tenantId: string,
    e: EquipmentRow,
  ): Promise<{ used: number; interval: number } | null> {
    if (e.interval_cycles === null) return null;
    return {
      used: await this.index.cyclesSince(wholeTenant(tenantId), e.tag, e.last_valid_at),
      interval: e.interval_cycles,
    };
  }

  /** The status from the cached calendar state and, with a usage interval, the cycles used. */
  private cachedStatus(
    e: EquipmentRow,
    asOf: string,
    dflt: number,
    cycles: { used: number; interval: number } | null = null,
  ) {
    const state: CalendarState = {
      lastValid: null,
      nextDue: e.next_due,
      outOfTolerance: e.out_of_tolerance === 1,
    };
    return {
      status: statusOn(state, asOf, e.due_soon_days ?? dflt, cycles ?? undefined),
      lastValidCalibrationAt: e.last_valid_at,
      nextDue: e.next_due,
      daysUntilDue: e.next_due ? daysBetween(asOf, e.next_due) : null,
      cycles,
    };
  }

  /**
   * The history of equipment a request names: every calibration, entries rejected or returned by
   * their reviewer included. Export control first (`mustGet`); a cleared caller's read of flagged
   * equipment logs each calibration served.
   */
  async calibrationsOf(caller: ExportCaller, tag: string): Promise<CalibrationView[]> {
    const e = await this.mustGet(caller, tag);
    const rows = await this.calibrations.forEquipment(caller, tag, { includeVoided: true });
    const manual = rows.filter((r) => r.source === 'manual').map((r) => r.id);
    const sigs = await this.calibrations.signaturesOf(caller, manual);
    if (e.export_regime) {
      const flag = { regime: e.export_regime, eccn: e.export_eccn };
      await this.exportControl.logAccess(
        caller,
        rows.map((r) => ({ type: 'calibration' as const, id: r.id, flag })),
      );
    }
    return rows.map((r) => calibrationView(r, sigs));
  }

  /** One calibration as `v` sees it, or 404 (absent, or of equipment hidden from `v`). */
  async calibration(v: Viewer, id: string): Promise<CalibrationView> {
    const row = await this.calibrations.get(v, id);
    if (!row) throw new ProblemError('CLOUD_NOT_FOUND', 'no such calibration');
    return calibrationView(row, await this.calibrations.signaturesOf(v, [id]));
  }

  /**
   * A calibration a request names by id, as the caller sees it, or 404. Export control of its
   * equipment comes first (`equipmentNamed`: a refusal audited, a cleared access to the equipment
   * and the calibration logged); only
   * which equipment the id names is read for the whole tenant, so that the refusal can be audited.
   */
  async calibrationRow(caller: ExportCaller, id: string): Promise<CalibrationRow> {
    const named =
      id.length <= 200 ? await this.calibrations.get(wholeTenant(caller.tenantId), id) : undefined;
    if (named) await this.exportControl.equipmentNamed(caller, named.equipment, id);
    const row = named ? await this.calibrations.get(caller, id) : undefined;
    if (!row) throw new ProblemError('CLOUD_NOT_FOUND', 'no such calibration');
    return row;
  }

  /** Manual entries by review state (the approvals queue), oldest first. */
  async manualEntries(
    v: Viewer,
    q: Parameters<CalibrationRepository['manualEntries']>[1],
  ): Promise<{
    rows: CalibrationListRow[];
    items: (CalibrationView & { siteId: string })[];
    next: string | null;
  }> {
    const rows = await this.calibrations.manualEntries(v, q);
    const sigs = await this.calibrations.signaturesOf(
      v,
      rows.map((r) => r.id),
    );
    const last = rows.at(-1);
    return {
      rows,
      items: rows.map((r) => ({ ...calibrationView(r, sigs), siteId: r.site_id })),
      next: rows.length === q.limit && last ? `${last.created_at}~${last.id}` : null,
    };
  }

  // -- manual entry ----------------------------------------------------------------------------

  /**
   * A calibration entered by a technician: validated against the record library's calibration
   * body schema and stored as cloud-side evidence (who entered it, which credential, when, and the
   * SHA-256 of exactly what was stored).
   */
  async enterManual(tenantId: string, raw: unknown, signer: Signer) {
    const r = manualCalibrationSchema.safeParse(raw);
    if (!r.success) throw validation(r.error);
    const { equipment: tag, enteredBy, body, signature, corrects } = r.data;
    const mismatches = verdictMismatches(body);
    if (mismatches.length > 0) {
      throw new ProblemError('CLOUD_VALIDATION', 'the request body is not valid', {
        errors: mismatches.map((m) => ({ path: m.path, message: m.message })),
      });
    }
    // A calibration by a stored procedure revision uses its points and standards exactly.
    const departures = await this.procedures.departures(tenantId, body);
    if (departures.length > 0)
      throw new ProblemError('CLOUD_VALIDATION', 'the calibration departs from its procedure', {
        errors: departures,
      });
    const principal = `user:${signer.user.id}`;
    await this.existing(tenantId, tag);
    if (corrects !== undefined) await this.mustBeReturned(tenantId, corrects, tag);
    const calibratedAt = normalizeTime(body.calibratedAt);
    if (calibratedAt > new Date(Date.now() + 5 * 60_000).toISOString()) {
      throw new ProblemError('CLOUD_VALIDATION', 'the request body is not valid', {
        errors: [{ path: 'body.calibratedAt', message: 'must not be in the future' }],
      });
    }
    const id = `manual:${randomUUID()}`;
    // The signature: the password again, now (before anything is stored).
    await signer.reauthenticate(signature.password, {
      action: 'calibration.sign',
      target: { type: 'equipment', id: tag },
      meaning: signature.meaning,
    });
    return committed(this.db, async () => {
      await this.existing(tenantId, tag);
      const issues = await this.traceabilityIssues(tenantId, tag, body, calibratedAt);
      const now = new Date().toISOString();
      const evidence = manualEntryJson({
        id,
        tenantId,
        equipment: tag,
        enteredBy,
        recordedBy: principal,
        at: now,
        body,
      });
      const contentSha256 = sha256(evidence);
      await this.calibrations.insert(
        tenantId,
        {
          id,
          equipment: tag,
          source: 'manual',
          edge_id: null,
          seq: null,
          calibrated_at: calibratedAt,
          as_found: body.asFoundResult,
          as_left: body.asLeftResult ?? null,
          traceability: issues.length ? 'flagged' : 'ok',
          trace_issues: JSON.stringify(issues),
          body: canonicalJson(body),
          entered_by: enteredBy,
          recorded_by: principal,
          evidence_sha256: contentSha256,
          corrects: corrects ?? null,
        },
        now,
      );
      await this.announce(tenantId, tag, id, body, null);
      const sig = await this.storeSignature(
        tenantId,
        id,
        'entry',
        signer,
        signature.meaning,
        contentSha256,
        now,
      );
      await this.audit.record({
        tenantId,
        action: 'calibration.sign',
        outcome: 'success',
        actor: { type: 'user', ...signer.user },
        address: signer.address,
        target: { type: 'calibration', id },
        after: {
          equipment: tag,
          purpose: 'entry',
          meaning: signature.meaning,
          contentSha256,
          signatureSha256: sig.signature_sha256,
          asFoundResult: body.asFoundResult,
          asLeftResult: body.asLeftResult ?? null,
        },
      });
      // Safety first: the entry takes effect when signed (a failing as-found puts the
      // equipment out of tolerance now), whether or not it is approved yet.
      await this.refresh(tenantId, tag);
      const row = await this.calibrations.get(wholeTenant(tenantId), id);
      if (!row) throw new Error('the calibration just stored is missing');
      return {
        calibration: calibrationView(row, [sig]),
        equipment: await this.describe(wholeTenant(tenantId), tag),
      };
    });
  }

  private async storeSignature(
    tenantId: string,
    calibrationId: string,
    purpose: SignatureRow['purpose'],
    signer: Signer,
    meaning: string,
    contentSha256: string,
    at: string,
    reason: string | null = null,
  ): Promise<SignatureRow> {
    const base = {
      tenant_id: tenantId,
      calibration_id: calibrationId,
      purpose,
      user_id: signer.user.id,
      user_email: signer.user.email,
      user_name: signer.user.name,
      user_role: signer.user.role,
      meaning,
      signed_at: at,
      content_sha256: contentSha256,
      reason,
    };
    const row: SignatureRow = {
      ...base,
      signature_sha256: sha256(signatureManifest(base)),
      address: signer.address,
    };
    if (!(await this.calibrations.insertSignature(row)))
      throw new ProblemError(
        'CLOUD_CONFLICT',
        purpose === 'entry'
          ? `calibration ${calibrationId} is already signed`
          : `calibration ${calibrationId} has been reviewed meanwhile`,
      );
    return row;
  }

  /** A correction names an entry of the same equipment that its reviewer returned. */
  private async mustBeReturned(tenantId: string, id: string, tag: string): Promise<void> {
    const row = await this.calibrations.get(wholeTenant(tenantId), id);
    const sigs = row ? await this.calibrations.signaturesOf(wholeTenant(tenantId), [id]) : [];
    const problem = !row
      ? 'no such calibration'
      : row.equipment !== tag
        ? `it is a calibration of ${row.equipment}`
        : !sigs.some((s) => s.purpose === 'return')
          ? 'it was not returned for correction'
          : undefined;
    if (problem)
      throw new ProblemError('CLOUD_VALIDATION', 'the request body is not valid', {
        errors: [{ path: 'corrects', message: problem }],
      });
  }

  /**
   * The second person's review of a manual entry: approve, reject, or return it for correction
   * (the last two with a reason), re-authenticated like the entry's own signature and bound to the
   * same content hash. The person who entered (signed) it may not review it: refused with 403 and
   * a security event on the audit trail. A rejected or returned entry stops counting at once (the
   * status is recomputed from the entries that count); it stays in the history.
   */
  async review(caller: ExportCaller, id: string, decision: ReviewDecision, raw: unknown, signer: Signer) {
    const tenantId = caller.tenantId;
    const r = (decision === 'approve' ? signatureInputSchema : reviewWithReasonSchema).safeParse(raw);
    if (!r.success) throw validation(r.error);
    const reason = 'reason' in r.data ? (r.data.reason as string) : null;
    const purpose = PURPOSE_OF[decision];
    const action = `calibration.${decision}`;
    const row = await this.calibrationRow(caller, id);
    if (row.source !== 'manual')
      throw new ProblemError(
        'CLOUD_CONFLICT',
        'a calibration from an edge record carries its own approval (body.approval); only manual entries are reviewed here',
      );
    const sigs = await this.calibrations.signaturesOf(wholeTenant(tenantId), [id]);
    const done = sigs.find((s) => s.purpose !== 'entry');
    if (done)
      throw new ProblemError(
        'CLOUD_CONFLICT',
        `calibration ${id} is already ${PAST[done.purpose as ReviewPurpose]} (by ${done.user_email})`,
      );
    const entrySigner = sigs.find((s) => s.purpose === 'entry')?.user_id;
    if (entrySigner === signer.user.id || row.recorded_by === `user:${signer.user.id}`) {
      await this.audit.record({
        tenantId,
        action,
        outcome: 'failure',
        actor: { type: 'user', ...signer.user },
        address: signer.address,
        target: { type: 'calibration', id },
        detail: `security: self-approval refused (separation of duties: a second person must ${decision} it)`,
      });
      throw new ProblemError(
        'CLOUD_SEPARATION_OF_DUTIES',
        `you entered this calibration: a second person must ${decision} it`,
      );
    }
    const content = contentHashOf(row);
    if (row.evidence_sha256 !== null && content !== row.evidence_sha256) {
      await this.audit.record({
        tenantId,
        action,
        outcome: 'failure',
        actor: { type: 'user', ...signer.user },
        address: signer.address,
        target: { type: 'calibration', id },
        detail: `security: the stored entry no longer matches its evidence hash; not ${PAST[purpose]}`,
      });
      throw new ProblemError('CLOUD_CONFLICT', 'the stored entry does not match its evidence hash');
    }
    await signer.reauthenticate(r.data.password, {
      action,
      target: { type: 'calibration', id },
      meaning: r.data.meaning,
    });
    return committed(this.db, async () => {
      const now = new Date().toISOString();
      const sig = await this.storeSignature(
        tenantId,
        id,
        purpose,
        signer,
        r.data.meaning,
        content,
        now,
        reason,
      );
      await this.audit.record({
        tenantId,
        action,
        outcome: 'success',
        actor: { type: 'user', ...signer.user },
        address: signer.address,
        target: { type: 'calibration', id },
        after: {
          equipment: row.equipment,
          purpose,
          meaning: r.data.meaning,
          ...(reason !== null ? { reason } : {}),
          contentSha256: content,
          signatureSha256: sig.signature_sha256,
          enteredBy: sigs.find((s) => s.purpose === 'entry')?.user_id ?? row.recorded_by,
        },
      });
      if (purpose !== 'approval') {
        await this.refresh(tenantId, row.equipment);
        await this.hooks.voided?.(tenantId, {
          id,
          equipment: row.equipment,
          reason: `${PAST[purpose]} by ${signer.user.email}: ${reason ?? ''}`,
        });
      }
      return { calibration: calibrationView(row, [...sigs, sig]) };
    });
  }

  // -- due list --------------------------------------------------------------------------------

  /** What needs attention by asOf + days (out of tolerance, overdue, due), grouped by site. */
  async dueList(
    v: Viewer,
    q: {
      days: number;
      siteId?: string | undefined;
      asOf?: string | undefined;
      limit: number;
      /**
       * The preventive task due first of each piece of equipment the caller may see, as of
       * `asOf` or else its own site's local day (the maintenance feature's): shown with each
       * item, and equipment whose task is overdue or due by its site's horizon is listed too.
       * Absent: no maintenance on the list.
       */
      preventive?: PreventiveTasks;
    },
  ) {
    const tenantId = v.tenantId;
    // Each entry's "today" is the local day of its own site (`asOf`, when given, is a date in the
    // sites' calendars). The answer's asOf and horizon are the latest of the sites asked about.
    const [zones, now] = [await this.zones(tenantId), this.clock().getTime()];
    const dayAt = (siteId: string) => q.asOf ?? localDay(now, zones.get(siteId) ?? 'UTC');
    const asked = q.siteId !== undefined ? [q.siteId] : [...zones.keys()].filter((id) => viewerSees(v, id));
    const asOf = q.asOf ?? asked.map(dayAt).reduce((a, b) => (a > b ? a : b), localDay(now, 'UTC'));
    const horizon = addDays(asOf, q.days);
    const found = await this.equipment.dueBy(v, horizon, q.siteId, q.limit);
    const rows = found.filter((e) => e.due_sort <= addDays(dayAt(e.site_id), q.days));
    const dflt = await this.dueSoonDefault(tenantId);
    // Equipment with a usage interval is due by its cycles too, whatever its calendar date: those
    // beyond the horizon whose cycles are used up (overdue) or nearly (due soon) are added.
    const byDate = new Set(rows.map((e) => e.tag));
    const byCycles: EquipmentRow[] = [];
    for (const e of await this.equipment.withUsageInterval(v, q.siteId)) {
      if (byDate.has(e.tag)) continue;
      const c = await this.cyclesOf(tenantId, e);
      const s = this.cachedStatus(e, dayAt(e.site_id), dflt, c).status;
      if (s === 'overdue' || s === 'due-soon') byCycles.push(e);
    }
    // Equipment whose preventive maintenance is overdue or due by the horizon, whatever its
    // calibration (the maintenance feature applies the caller's site scope and export control).
    const pms = q.preventive
      ? await q.preventive.nextPmByTag(v, q.asOf)
      : new Map<string, NextPm & { siteId: string }>();
    const listed = new Set([...byDate, ...byCycles.map((e) => e.tag)]);
    const byPm: EquipmentRow[] = [];
    for (const [tag, pm] of [...pms].sort(([a, x], [b, y]) =>
      x.nextDue < y.nextDue ? -1 : x.nextDue > y.nextDue ? 1 : a < b ? -1 : 1,
    )) {
      if (listed.has(tag) || (pm.status !== 'overdue' && pm.nextDue > addDays(dayAt(pm.siteId), q.days)))
        continue;
      const e = await this.equipment.find(v, tag);
      if (!e || e.retired_at !== null || (q.siteId !== undefined && e.site_id !== q.siteId)) continue;
      byPm.push(e);
    }
    const all = [...rows, ...byCycles, ...byPm].slice(0, q.limit);
    const sites = new Map<string, unknown[]>();
    for (const e of all) {
      const pm = pms.get(e.tag);
      const item = {
        tag: e.tag,
        type: e.type,
        ...this.cachedStatus(e, dayAt(e.site_id), dflt, await this.cyclesOf(tenantId, e)),
        ...(q.preventive
          ? {
              nextPm: pm
                ? {
                    planId: pm.planId,
                    task: pm.task,
                    nextDue: pm.nextDue,
                    daysUntilDue: pm.daysUntilDue,
                    status: pm.status,
                  }
                : null,
            }
          : {}),
      };
      const list = sites.get(e.site_id) ?? [];
      list.push(item);
      sites.set(e.site_id, list);
    }
    return {
      asOf,
      days: q.days,
      horizon,
      truncated: found.length === q.limit || rows.length + byCycles.length + byPm.length > q.limit,
      sites: [...sites.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([siteId, items]) => ({ siteId, items })),
    };
  }
}
