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
import type { Db } from '../db/db.js';
import { ProblemError } from '../errors.js';
import type {
  CalibrationRepository,
  CalibrationRow,
  PassFail,
} from '../repositories/calibration.repository.js';
import {
  ATTENTION_NOW,
  type EquipmentRepository,
  type EquipmentRow,
  type EquipmentWrite,
  type StatusCache,
} from '../repositories/equipment.repository.js';
import type { GaugeUse, InspectionRepository, TraceableRow } from '../repositories/inspection.repository.js';
import type { TenancyRepository } from '../repositories/tenancy.repository.js';

/** The tenant default for the due-soon window (recall lead time) when the tenant has set none. */
export const DEFAULT_DUE_SOON_DAYS = 30;
/** With a usage interval, due-soon starts when this share of the cycles is used. */
export const CYCLES_DUE_SOON_SHARE = 0.9;

export type CalibrationStatus = 'current' | 'due-soon' | 'overdue' | 'out-of-tolerance';

// ---------------------------------------------------------------------------------------------
// Dates: calendar arithmetic in UTC on YYYY-MM-DD.

const DAY_MS = 86_400_000;
export const dateOf = (iso: string): string => iso.slice(0, 10);
export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00.000Z`) + days * DAY_MS).toISOString().slice(0, 10);
}
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
  a.calibratedAt < b.calibratedAt
    ? -1
    : a.calibratedAt > b.calibratedAt
      ? 1
      : a.id < b.id
        ? -1
        : a.id > b.id
          ? 1
          : 0;

export interface CalendarState {
  lastValid: CalLite | null;
  nextDue: string | null;
  outOfTolerance: boolean;
}

/** What the calibration history alone says (no date, no usage): last valid, next due, out of tolerance. */
export function calendarState(cals: readonly CalLite[], intervalDays: number): CalendarState {
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
    nextDue: lastValid ? addDays(dateOf(lastValid.calibratedAt), intervalDays) : null,
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
  })
  .refine((e) => e.dueSoonDays === undefined || e.dueSoonDays < e.intervalDays, {
    message: 'dueSoonDays must be shorter than intervalDays',
    path: ['dueSoonDays'],
  });
export type EquipmentBody = z.output<typeof equipmentBodySchema>;

export const manualCalibrationSchema = z.strictObject({
  equipment: assetTagSchema,
  /** Who performed or entered it (name and qualification); the authenticated principal is kept as well. */
  enteredBy: label(128),
  body: calibrationBodySchema,
});

export const settingsSchema = z.strictObject({ dueSoonDays: z.int().min(0).max(365) });

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
}

export function calibrationView(r: CalibrationRow): CalibrationView {
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
  constructor(
    private readonly db: Db,
    private readonly tenancy: TenancyRepository,
    private readonly equipment: EquipmentRepository,
    private readonly calibrations: CalibrationRepository,
    private readonly index: InspectionRepository,
  ) {}

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
    const touched = new Set<string>();
    for (const r of records) {
      if (r.kind === 'usage' || r.kind === 'inspection') {
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
      } else if (r.kind === 'calibration') {
        const calibratedAt = normalizeTime(r.body.calibratedAt);
        const issues = await this.traceabilityIssues(tenantId, r.equipment, r.body, calibratedAt);
        await this.calibrations.insert(
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
        touched.add(r.equipment);
      }
    }
    if (rows.length || gauges.length) await this.index.insert(tenantId, rows, gauges);
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
    const day = dateOf(at);
    for (const s of body.standards) {
      if (s.id === tag) {
        issues.push(`${s.id}: the equipment is listed as its own reference standard`);
        continue;
      }
      if (s.dueDate !== undefined && s.dueDate < day) {
        issues.push(`${s.id}: its certificate was due ${s.dueDate}, before the calibration on ${day}`);
      }
      const std = await this.equipment.get(tenantId, s.id);
      if (!std) continue;
      const history = (await this.calibrations.forEquipment(tenantId, s.id))
        .map(calLite)
        .filter((c) => c.calibratedAt <= at);
      if (history.length > 0) {
        const state = calendarState(history, std.interval_days);
        const status = statusOn(state, day, 0);
        if (status === 'out-of-tolerance') issues.push(`${s.id}: out of tolerance at the time`);
        else if (status === 'overdue')
          issues.push(
            `${s.id}: overdue at the time (${state.nextDue ? `due ${state.nextDue}` : 'no valid calibration'})`,
          );
      } else if (std.std_due_date !== null && std.std_due_date < day) {
        issues.push(`${s.id}: its registered certificate was due ${std.std_due_date}, before ${day}`);
      }
    }
    return issues;
  }

  /** Recomputes the cached calendar status of registered equipment from its calibrations. */
  async refresh(tenantId: string, tag: string): Promise<void> {
    const e = await this.equipment.get(tenantId, tag);
    if (!e) return;
    const cals = (await this.calibrations.forEquipment(tenantId, tag)).map(calLite);
    await this.equipment.setStatusCache(tenantId, tag, cacheOf(calendarState(cals, e.interval_days)));
  }

  // -- register --------------------------------------------------------------------------------

  private async parseEquipment(tenantId: string, tag: string, raw: unknown): Promise<EquipmentWrite> {
    const r = equipmentBodySchema.safeParse(raw);
    if (!r.success) throw validation(r.error);
    const b = r.data;
    if (!(await this.tenancy.siteExists(tenantId, b.siteId))) {
      throw new ProblemError('CLOUD_VALIDATION', 'the request body is not valid', {
        errors: [{ path: 'siteId', message: 'no such site' }],
      });
    }
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
    };
  }

  async create(tenantId: string, raw: unknown) {
    const tagged = z.looseObject({ tag: assetTagSchema }).safeParse(raw);
    if (!tagged.success) throw validation(tagged.error);
    const { tag, ...rest } = tagged.data;
    const e = await this.parseEquipment(tenantId, tag, rest);
    return this.db.transaction(async () => {
      if (!(await this.equipment.insert(tenantId, e, new Date().toISOString())))
        throw new ProblemError('CLOUD_CONFLICT', `equipment ${tag} is already registered`);
      // Calibrations may have arrived before the equipment was registered.
      await this.refresh(tenantId, tag);
      return this.describe(tenantId, tag);
    });
  }

  async replace(tenantId: string, tag: string, raw: unknown) {
    await this.mustGet(tenantId, tag);
    const e = await this.parseEquipment(tenantId, tag, raw);
    return this.db.transaction(async () => {
      if (!(await this.equipment.update(tenantId, e, new Date().toISOString())))
        throw new ProblemError('CLOUD_CONFLICT', `equipment ${tag} is retired`);
      await this.refresh(tenantId, tag);
      return this.describe(tenantId, tag);
    });
  }

  /** Takes equipment out of service; its register entry and history stay (evidence is never deleted). */
  async retire(tenantId: string, tag: string): Promise<void> {
    await this.mustGet(tenantId, tag);
    if (!(await this.equipment.retire(tenantId, tag, new Date().toISOString())))
      throw new ProblemError('CLOUD_CONFLICT', `equipment ${tag} is already retired`);
  }

  async mustGet(tenantId: string, tag: string): Promise<EquipmentRow> {
    const e = assetTagSchema.safeParse(tag).success ? await this.equipment.get(tenantId, tag) : undefined;
    if (!e) throw new ProblemError('CLOUD_NOT_FOUND', 'no such equipment');
    return e;
  }

  async dueSoonDefault(tenantId: string): Promise<number> {
    return (await this.equipment.dueSoonDefault(tenantId)) ?? DEFAULT_DUE_SOON_DAYS;
  }

  async setSettings(tenantId: string, raw: unknown): Promise<{ dueSoonDays: number }> {
    const r = settingsSchema.safeParse(raw);
    if (!r.success) throw validation(r.error);
    await this.equipment.setDueSoonDefault(tenantId, r.data.dueSoonDays, new Date().toISOString());
    return r.data;
  }

  /** The status from the full history (calendar and usage interval), as of a date. */
  async status(tenantId: string, e: EquipmentRow, asOf = today()): Promise<StatusView> {
    const cals = (await this.calibrations.forEquipment(tenantId, e.tag)).map(calLite);
    const state = calendarState(cals, e.interval_days);
    const dueSoonDays = e.due_soon_days ?? (await this.dueSoonDefault(tenantId));
    const cycles =
      e.interval_cycles !== null
        ? {
            used: await this.index.cyclesSince(tenantId, e.tag, state.lastValid?.calibratedAt ?? null),
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

  async describe(tenantId: string, tag: string, asOf?: string) {
    const e = await this.mustGet(tenantId, tag);
    return { ...equipmentView(e), calibration: await this.status(tenantId, e, asOf) };
  }

  /** The register, with each entry's calendar status from the cache (usage intervals: see describe). */
  async list(
    tenantId: string,
    q: {
      siteId?: string | undefined;
      type?: string | undefined;
      includeRetired?: boolean;
      after?: string | undefined;
      limit: number;
    },
    asOf = today(),
  ) {
    const rows = await this.equipment.list(tenantId, { ...q, afterTag: q.after });
    const dflt = await this.dueSoonDefault(tenantId);
    const items = rows.map((e) => ({ ...equipmentView(e), calibration: this.cachedStatus(e, asOf, dflt) }));
    return { items, next: rows.length === q.limit ? (rows.at(-1)?.tag ?? null) : null };
  }

  private cachedStatus(e: EquipmentRow, asOf: string, dflt: number) {
    const state: CalendarState = {
      lastValid: null,
      nextDue: e.next_due,
      outOfTolerance: e.out_of_tolerance === 1,
    };
    return {
      status: statusOn(state, asOf, e.due_soon_days ?? dflt),
      lastValidCalibrationAt: e.last_valid_at,
      nextDue: e.next_due,
      daysUntilDue: e.next_due ? daysBetween(asOf, e.next_due) : null,
    };
  }

  async calibrationsOf(tenantId: string, tag: string): Promise<CalibrationView[]> {
    await this.mustGet(tenantId, tag);
    return (await this.calibrations.forEquipment(tenantId, tag)).map(calibrationView);
  }

  // -- manual entry ----------------------------------------------------------------------------

  /**
   * A calibration entered by a technician: validated against the record library's calibration
   * body schema and stored as cloud-side evidence (who entered it, which credential, when, and the
   * SHA-256 of exactly what was stored).
   */
  async enterManual(tenantId: string, raw: unknown, principal: string) {
    const r = manualCalibrationSchema.safeParse(raw);
    if (!r.success) throw validation(r.error);
    const { equipment: tag, enteredBy, body } = r.data;
    return this.db.transaction(async () => {
      await this.mustGet(tenantId, tag);
      const calibratedAt = normalizeTime(body.calibratedAt);
      if (calibratedAt > new Date(Date.now() + 5 * 60_000).toISOString()) {
        throw new ProblemError('CLOUD_VALIDATION', 'the request body is not valid', {
          errors: [{ path: 'body.calibratedAt', message: 'must not be in the future' }],
        });
      }
      const issues = await this.traceabilityIssues(tenantId, tag, body, calibratedAt);
      const now = new Date().toISOString();
      const id = `manual:${randomUUID()}`;
      const evidence = canonicalJson({
        id,
        tenantId,
        equipment: tag,
        enteredBy,
        recordedBy: principal,
        at: now,
        body,
      });
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
          evidence_sha256: createHash('sha256').update(evidence, 'utf8').digest('hex'),
        },
        now,
      );
      await this.refresh(tenantId, tag);
      const row = await this.calibrations.get(tenantId, id);
      if (!row) throw new Error('the calibration just stored is missing');
      return { calibration: calibrationView(row), equipment: await this.describe(tenantId, tag) };
    });
  }

  // -- due list --------------------------------------------------------------------------------

  /** What needs attention by asOf + days (out of tolerance, overdue, due), grouped by site. */
  async dueList(
    tenantId: string,
    q: { days: number; siteId?: string | undefined; asOf?: string | undefined; limit: number },
  ) {
    const asOf = q.asOf ?? today();
    const horizon = addDays(asOf, q.days);
    const rows = await this.equipment.dueBy(tenantId, horizon, q.siteId, q.limit);
    const dflt = await this.dueSoonDefault(tenantId);
    const sites = new Map<string, unknown[]>();
    for (const e of rows) {
      const item = { tag: e.tag, type: e.type, ...this.cachedStatus(e, asOf, dflt) };
      const list = sites.get(e.site_id) ?? [];
      list.push(item);
      sites.set(e.site_id, list);
    }
    return {
      asOf,
      days: q.days,
      horizon,
      truncated: rows.length === q.limit,
      sites: [...sites.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([siteId, items]) => ({ siteId, items })),
    };
  }
}
