import type { CalibrationRepository } from './calibration.repository.js';
import type {
  InspectionRepository,
  SuspectRow,
  TraceableQuery,
  TraceableResultRow,
} from '../production/index.js';
import { ProblemError } from '../platform/errors.js';
import {
  calLite,
  isFailure,
  isValid,
  normalizeTime,
  type CalibrationService,
  type CalLite,
} from './calibration.service.js';

export interface Cursor {
  observedAt: string;
  edge: string;
  seq: number;
}

/** A page cursor: "<observedAt>~<edge>~<seq>" (edge ids and ISO times contain no "~"). */
export function encodeCursor(r: { observed_at: string; edge_id: string; seq: number }): string {
  return `${r.observed_at}~${r.edge_id}~${r.seq}`;
}
export function decodeCursor(c: string): Cursor | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)~([A-Za-z0-9._-]{1,128})~(\d{1,15})$/.exec(c);
  return m ? { observedAt: m[1]!, edge: m[2]!, seq: Number(m[3]) } : undefined;
}

export interface SuspectWindow {
  /** The failed calibration the window belongs to. */
  failedCalibration: { id: string; calibratedAt: string; asFoundResult: string; asLeftResult: string | null };
  /** The last valid calibration before the failure (exclusive start); null: since the first record. */
  lastGoodCalibration: { id: string; calibratedAt: string } | null;
  start: string | null;
  /** The first valid calibration at or after the failure (inclusive end); null: still open (now). */
  end: string | null;
  closedBy: { id: string; calibratedAt: string } | null;
}

export function itemView(r: TraceableResultRow | SuspectRow) {
  return {
    edge: r.edge_id,
    seq: r.seq,
    kind: r.kind,
    siteId: r.site_id,
    equipment: r.equipment,
    observedAt: r.observed_at,
    partSerial: r.part_serial,
    workOrder: r.work_order,
    result: r.result,
    ...('via' in r ? { via: r.via } : {}),
    record: JSON.parse(r.json) as unknown,
  };
}

const CSV_COLUMNS = [
  'edge',
  'seq',
  'kind',
  'observedAt',
  'siteId',
  'equipment',
  'via',
  'partSerial',
  'workOrder',
  'operator',
  'result',
] as const;

/** RFC 4180 field; a leading = + - @ is prefixed with ' so a spreadsheet does not run it as a formula. */
function csvField(v: string | number | null | undefined): string {
  let s = v === null || v === undefined ? '' : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function suspectCsv(rows: readonly SuspectRow[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of rows) {
    const rec = JSON.parse(r.json) as { body?: { operator?: string } };
    const v: Record<(typeof CSV_COLUMNS)[number], string | number | null | undefined> = {
      edge: r.edge_id,
      seq: r.seq,
      kind: r.kind,
      observedAt: r.observed_at,
      siteId: r.site_id,
      equipment: r.equipment,
      via: r.via,
      partSerial: r.part_serial,
      workOrder: r.work_order,
      operator: rec.body?.operator,
      result: r.result,
    };
    lines.push(CSV_COLUMNS.map((c) => csvField(v[c])).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

/**
 * Reverse traceability (which products a failed instrument measured) and the queries over
 * usage and inspection records.
 */
export class TraceabilityService {
  constructor(
    private readonly calibration: CalibrationService,
    private readonly calibrations: CalibrationRepository,
    private readonly index: InspectionRepository,
  ) {}

  /**
   * The suspect window of a failed calibration (the latest failure unless `calibrationId` names
   * one): from the last valid calibration before it (exclusive) to the first valid calibration
   * at or after it (inclusive; the failed one itself when it was adjusted and left passing), or
   * open-ended while none exists.
   */
  async window(tenantId: string, tag: string, calibrationId?: string): Promise<SuspectWindow | null> {
    const rows = await this.calibrations.forEquipment(tenantId, tag);
    const cals: CalLite[] = rows.map(calLite);
    const failures = cals.map((c, i) => ({ c, i })).filter(({ c }) => c.asFound === 'fail' || isFailure(c));
    let pick: { c: CalLite; i: number } | undefined;
    if (calibrationId !== undefined) {
      pick = failures.find(({ c }) => c.id === calibrationId);
      if (!pick) {
        throw new ProblemError(
          'CLOUD_NOT_FOUND',
          cals.some((c) => c.id === calibrationId)
            ? `calibration ${calibrationId} did not fail`
            : `no calibration ${calibrationId} for ${tag}`,
        );
      }
    } else pick = failures.at(-1);
    if (!pick) return null;
    const before = cals.slice(0, pick.i).filter(isValid).at(-1) ?? null;
    const closing = cals.slice(pick.i).find(isValid) ?? null;
    const f = rows[pick.i]!;
    return {
      failedCalibration: {
        id: f.id,
        calibratedAt: f.calibrated_at,
        asFoundResult: f.as_found,
        asLeftResult: f.as_left,
      },
      lastGoodCalibration: before ? { id: before.id, calibratedAt: before.calibratedAt } : null,
      start: before?.calibratedAt ?? null,
      end: closing?.calibratedAt ?? null,
      closedBy: closing ? { id: closing.id, calibratedAt: closing.calibratedAt } : null,
    };
  }

  async suspectRecords(
    tenantId: string,
    tag: string,
    q: {
      calibration?: string | undefined;
      after?: Cursor | undefined;
      limit: number;
      /** Only records sent by edges of these sites (a caller limited to sites); null: every site. */
      sites?: readonly string[] | null | undefined;
    },
  ): Promise<{ window: SuspectWindow | null; rows: SuspectRow[]; next: string | null }> {
    await this.calibration.mustGet(tenantId, tag);
    const window = await this.window(tenantId, tag, q.calibration);
    if (!window) return { window, rows: [], next: null };
    const rows = await this.index.suspect(
      tenantId,
      tag,
      window.start,
      window.end,
      q.after,
      q.limit,
      q.sites ?? null,
    );
    const last = rows.at(-1);
    return { window, rows, next: rows.length === q.limit && last ? encodeCursor(last) : null };
  }

  async records(tenantId: string, q: TraceableQuery) {
    const rows = await this.index.query(tenantId, {
      ...q,
      from: q.from !== undefined ? normalizeTime(q.from) : undefined,
      to: q.to !== undefined ? normalizeTime(q.to) : undefined,
    });
    const last = rows.at(-1);
    return { items: rows.map(itemView), next: rows.length === q.limit && last ? encodeCursor(last) : null };
  }

  async firstPassYield(
    tenantId: string,
    q: {
      from: string;
      to: string;
      siteId?: string | undefined;
      equipment?: string | undefined;
      /** Only inspections sent by edges of these sites (a caller limited to sites); null: every site. */
      sites?: readonly string[] | null | undefined;
    },
  ) {
    const from = normalizeTime(q.from);
    const to = normalizeTime(q.to);
    const rows = await this.index.firstPassYield(tenantId, { ...q, from, to });
    const byRig = new Map<string, { tested: number; passed: number }>();
    for (const r of rows) {
      const t = byRig.get(r.equipment) ?? { tested: 0, passed: 0 };
      t.tested += r.tested;
      t.passed += r.passed;
      byRig.set(r.equipment, t);
    }
    const rate = (p: number, t: number) => (t === 0 ? null : Math.round((p / t) * 10_000) / 10_000);
    return {
      from,
      to,
      perRigDay: rows.map((r) => ({ ...r, firstPassYield: rate(r.passed, r.tested) })),
      perRig: [...byRig.entries()].map(([equipment, t]) => ({
        equipment,
        ...t,
        firstPassYield: rate(t.passed, t.tested),
      })),
    };
  }
}
