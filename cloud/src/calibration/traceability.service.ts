import type { CalibrationRepository, CalibrationRow } from './calibration.repository.js';
import {
  type InspectionRepository,
  type SuspectRow,
  type TraceableQuery,
  type TraceableResultRow,
} from '../production/index.js';
import type { CalibrationBody } from '@rigtrace/protocols';
import { wholeTenant, type Viewer } from '../access/index.js';
import { ProblemError } from '../platform/errors.js';
import { isLocalDate, localDay, periodInstants } from '../platform/time-zone.js';
import { DEFAULT_SHIFTS, withEnds, type Shift } from '../tenancy/index.js';
import type { AuditService } from '../audit/index.js';
import type { ExportCaller } from '../export-control/index.js';
import type { TraceReviewRepository } from './trace-review.repository.js';
import { foldYield } from './yield-fold.js';
import {
  CERTIFICATE_DIFFERS,
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
    ...('via' in r ? { via: r.via, position: r.position, named: namesPosition(r) } : {}),
    record: JSON.parse(r.json) as unknown,
  };
}

/**
 * With via 'position': the name of the position the device sat in ("rail pressure" of
 * "RIG-01 / rail pressure"); else null.
 */
function installedPosition(r: { via?: string; position?: string | null; equipment?: string }): string | null {
  if (r.via !== 'position' || !r.position || r.equipment === undefined) return null;
  const prefix = `${r.equipment} / `;
  return r.position.startsWith(prefix) ? r.position.slice(prefix.length) : null;
}

/** The characteristics (inspection) of a record: what suspect views read of its JSON. */
interface RecordCharacteristic {
  name: string;
  measured: number;
  unit: string;
  nominal?: number;
  lsl?: number;
  usl?: number;
  gauge?: string;
  position?: string;
  result: 'pass' | 'fail';
}
/** `parsed`: the record's JSON already parsed (an item view's `record`), else `json` is parsed. */
const characteristicsOf = (json: string, parsed?: unknown): RecordCharacteristic[] => {
  const rec = (parsed ?? JSON.parse(json)) as {
    kind: string;
    body?: { characteristics?: RecordCharacteristic[] };
  };
  return rec.kind === 'inspection' ? (rec.body?.characteristics ?? []) : [];
};

/**
 * With via 'position': true when the record names the position the device sat in (a
 * characteristic says its value came from there, RECORDS.md "Positions"); else false.
 */
export function namesPosition(r: {
  json: string;
  via?: string;
  position?: string | null;
  equipment?: string;
}) {
  const name = installedPosition(r);
  return name !== null && characteristicsOf(r.json).some((c) => c.position === name);
}

/** A position a record names, resolved to the device installed there at its observedAt (null: unresolved). */
export interface NamedPosition {
  position: string;
  /** "RIG-01 / rail pressure" */
  label: string;
  device: string | null;
}

/** How far off the failed instrument read: its largest as-found error, in the unit of its points. */
export interface InstrumentError {
  magnitude: number;
  unit: string;
  /** The point where it was largest. */
  point: string;
}

/** The largest |as found − nominal| of a calibration's points (null without points). */
export function instrumentError(body: {
  points: readonly { name: string; nominal: number; unit: string; asFound: number }[];
}): InstrumentError | null {
  let worst: InstrumentError | null = null;
  for (const p of body.points) {
    const e = Math.abs(p.asFound - p.nominal);
    if (!worst || e > worst.magnitude)
      worst = { magnitude: Number(e.toPrecision(12)), unit: p.unit, point: p.name };
  }
  return worst;
}

const sameUnit = (a: string, b: string) =>
  a.replace(/\s+/g, '').toLowerCase() === b.replace(/\s+/g, '').toLowerCase();

/** A characteristic of a suspect inspection: what was measured, against which limits, how close. */
export interface SuspectCharacteristic {
  name: string;
  measured: number;
  unit: string;
  nominal: number | null;
  lsl: number | null;
  usl: number | null;
  result: 'pass' | 'fail';
  /** Distance to the nearest limit (negative: outside); null without limits. */
  margin: number | null;
  /**
   * The verdict may be wrong: the margin is smaller than the failed instrument's error (same
   * unit). Null when the units differ or there is no limit to compare with.
   */
  atRisk: boolean | null;
}

/**
 * The characteristics of a suspect record that the failed instrument may have affected: those
 * measured with it (a characteristic naming it as its gauge, or naming the position it sat in),
 * else all of the record's (the instrument is the rig itself, or a record that does not say which
 * gauge measured what).
 */
export function suspectCharacteristics(
  r: { json: string; via?: string; position?: string | null; equipment?: string },
  tag: string,
  error: InstrumentError | null,
  /** The record's JSON already parsed (its item view's `record`): not parsed again. */
  parsed?: unknown,
): SuspectCharacteristic[] {
  const all = characteristicsOf(r.json, parsed);
  const where = installedPosition(r);
  const named = all.filter((c) => c.gauge === tag || (where !== null && c.position === where));
  return (named.length > 0 ? named : all).map((c) => {
    const sides = [
      ...(c.lsl !== undefined ? [c.measured - c.lsl] : []),
      ...(c.usl !== undefined ? [c.usl - c.measured] : []),
    ];
    const margin = sides.length ? Number(Math.min(...sides).toPrecision(12)) : null;
    return {
      name: c.name,
      measured: c.measured,
      unit: c.unit,
      nominal: c.nominal ?? null,
      lsl: c.lsl ?? null,
      usl: c.usl ?? null,
      result: c.result,
      margin,
      atRisk: margin === null || !error || !sameUnit(error.unit, c.unit) ? null : margin < error.magnitude,
    };
  });
}

/** The columns of a suspect-records CSV (an out-of-tolerance case's CSV starts from them too). */
export const SUSPECT_CSV_COLUMNS = [
  'edge',
  'seq',
  'kind',
  'observedAt',
  'siteId',
  'equipment',
  'via',
  'position',
  'named',
  'partSerial',
  'workOrder',
  'operator',
  'result',
  'characteristic',
  'measured',
  'unit',
  'lsl',
  'usl',
  'margin',
  'atRisk',
] as const;
export type SuspectCsvColumn = (typeof SUSPECT_CSV_COLUMNS)[number];

/** RFC 4180 field; text with a leading = + - @ is prefixed with ' so a spreadsheet does not run it as a formula. */
export function csvField(v: string | number | boolean | null | undefined): string {
  let s = v === null || v === undefined ? '' : String(v);
  // A number (a negative margin) is data, not a formula; text that starts like one is defused.
  if (typeof v !== 'number' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * One line per suspect record and characteristic (a usage record, or an inspection without
 * characteristics, is one line with the characteristic columns empty): what a quality engineer
 * needs to judge which parts are at risk. `extra` adds columns (the case's decisions).
 */
export function suspectLines(
  r: SuspectRow,
  tag: string,
  error: InstrumentError | null,
): Record<SuspectCsvColumn, string | number | boolean | null | undefined>[] {
  const rec = JSON.parse(r.json) as { body?: { operator?: string } };
  const base = {
    edge: r.edge_id,
    seq: r.seq,
    kind: r.kind,
    observedAt: r.observed_at,
    siteId: r.site_id,
    equipment: r.equipment,
    via: r.via,
    position: r.position,
    named: namesPosition(r),
    partSerial: r.part_serial,
    workOrder: r.work_order,
    operator: rec.body?.operator,
    result: r.result,
  };
  const chars = suspectCharacteristics(r, tag, error);
  if (chars.length === 0)
    return [
      {
        ...base,
        characteristic: null,
        measured: null,
        unit: null,
        lsl: null,
        usl: null,
        margin: null,
        atRisk: null,
      },
    ];
  return chars.map((c) => ({
    ...base,
    characteristic: c.name,
    measured: c.measured,
    unit: c.unit,
    lsl: c.lsl,
    usl: c.usl,
    margin: c.margin,
    atRisk: c.atRisk,
  }));
}

export function suspectCsv(rows: readonly SuspectRow[], tag: string, error: InstrumentError | null): string {
  const lines = [SUSPECT_CSV_COLUMNS.join(',')];
  for (const r of rows)
    for (const v of suspectLines(r, tag, error))
      lines.push(SUSPECT_CSV_COLUMNS.map((c) => csvField(v[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** The columns of a suspect chain's records CSV: the instrument (and its calibration with the standard), then a suspect record's. */
export const CHAIN_CSV_COLUMNS = ['instrument', 'instrumentCalibration', ...SUSPECT_CSV_COLUMNS] as const;

/** One line per record of a suspect chain and characteristic, with the instrument that measured it. */
export function chainCsv(rows: readonly { instrument: ChainInstrument; row: SuspectRow }[]): string {
  const lines = [CHAIN_CSV_COLUMNS.join(',')];
  for (const { instrument, row } of rows)
    for (const v of suspectLines(row, instrument.equipment, null)) {
      const line = {
        ...v,
        instrument: instrument.equipment,
        instrumentCalibration: instrument.calibrationId,
      };
      lines.push(CHAIN_CSV_COLUMNS.map((c) => csvField(line[c])).join(','));
    }
  return `${lines.join('\r\n')}\r\n`;
}

/**
 * The suspect window of the failure at `i` in a time-ordered history: the last valid calibration
 * before it (exclusive start; null: since the first record) and the first valid calibration at or
 * after it (inclusive end; null: still open).
 */
export function windowAround(
  cals: readonly CalLite[],
  i: number,
): { before: CalLite | null; closing: CalLite | null } {
  return {
    before: cals.slice(0, i).filter(isValid).at(-1) ?? null,
    closing: cals.slice(i).find(isValid) ?? null,
  };
}

/**
 * A reference standard found out of tolerance after `at`, whose suspect window `at` falls in:
 * the issue a calibration made with it then carries (null: none). The standard → instrument link
 * of the suspect chain. Its dates are local days of `zone`, the calibrated equipment's site's
 * (as the standard's other issues give the calibration's day).
 */
export function laterFailureIssue(
  standard: string,
  cals: readonly CalLite[],
  at: string,
  zone = 'UTC',
): string | null {
  const day = (iso: string) => localDay(Date.parse(iso), zone);
  for (let i = 0; i < cals.length; i++) {
    const f = cals[i]!;
    if (f.calibratedAt < at || !isFailure(f)) continue;
    const { before } = windowAround(cals, i);
    if (before !== null && before.calibratedAt >= at) return null;
    return `${standard}: found out of tolerance on ${day(f.calibratedAt)} (calibration ${f.id}); used on ${day(at)}, inside its suspect window`;
  }
  return null;
}

/**
 * The suspect window of a failed calibration of `tag` among its calibrations `rows` (in
 * calibrated_at order, CalibrationRepository.forEquipment): TraceabilityService.window, and the
 * months the records retention keeps for an open out-of-tolerance case.
 */
export function suspectWindowOf(
  tag: string,
  rows: readonly CalibrationRow[],
  calibrationId?: string,
): SuspectWindow | null {
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
  const { before, closing } = windowAround(cals, pick.i);
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

/** A calibration made with a failed standard inside its suspect window, and what that instrument measured since. */
export interface ChainLink {
  equipment: string;
  calibrationId: string;
  calibratedAt: string;
  /** The instrument's first valid calibration after it (the end of what it measured on trust); null: open. */
  until: string | null;
  /** Usage and inspection records the instrument made in (calibratedAt, until]. */
  suspectRecords: number;
}

/** Where a page of a suspect chain's records ends: in which link, after which record of it. */
export interface ChainCursor extends Cursor {
  /** The link's calibration (the instrument's calibration made with the failed standard). */
  link: string;
}

/** A chain page cursor: "<link calibration id>~<observedAt>~<edge>~<seq>" (ids hold no "~"). */
export function encodeChainCursor(link: string, r: { observed_at: string; edge_id: string; seq: number }) {
  return `${link}~${encodeCursor(r)}`;
}
export function decodeChainCursor(c: string): ChainCursor | undefined {
  const at = c.indexOf('~');
  if (at < 1 || at > 200) return undefined;
  const link = c.slice(0, at);
  const rest = decodeCursor(c.slice(at + 1));
  return rest && /^[A-Za-z0-9._:-]+$/.test(link) ? { link, ...rest } : undefined;
}

/** A link of a suspect chain without its count: which instrument, which calibration, until when. */
export type ChainInstrument = Omit<ChainLink, 'suspectRecords'>;

/**
 * Reverse traceability (which products a failed instrument measured) and the queries over
 * usage and inspection records.
 */
export class TraceabilityService {
  constructor(
    private readonly calibration: CalibrationService,
    private readonly calibrations: CalibrationRepository,
    private readonly index: InspectionRepository,
    /** Re-evaluation of stored calibrations when a standard's history changes (server.ts wires it). */
    private readonly reviews?: TraceReviewRepository,
    private readonly audit?: AuditService,
  ) {}

  /**
   * A calibration was stored (inside its transaction): its standards are indexed, it is checked
   * against standards already known to have failed since, and, when it is a calibration of a
   * standard, every calibration made with that standard is re-evaluated (a late-arriving
   * calibration or a failure of a standard changes their traceability).
   */
  async onCalibrationStored(tenantId: string, c: { id: string; equipment: string }): Promise<void> {
    if (!this.reviews) return;
    const row = await this.calibrations.get(wholeTenant(tenantId), c.id);
    if (!row) return;
    const body = JSON.parse(row.body) as CalibrationBody;
    await this.reviews.indexStandards(
      tenantId,
      row.id,
      row.calibrated_at,
      body.standards.map((s) => s.id),
    );
    for (const s of new Set(body.standards.map((x) => x.id)))
      await this.reevaluate(tenantId, row.id, s, row.id);
    await this.reevaluateUsersOf(tenantId, c.equipment, c.id);
  }

  /** A calibration stopped counting (rejected or returned): the calibrations made with its equipment are re-evaluated. */
  async onCalibrationVoided(tenantId: string, c: { id: string; equipment: string }): Promise<void> {
    await this.reevaluateUsersOf(tenantId, c.equipment, c.id);
  }

  private async reevaluateUsersOf(tenantId: string, standard: string, cause: string): Promise<void> {
    if (!this.reviews) return;
    for (const u of await this.reviews.citing(wholeTenant(tenantId), standard))
      if (u.calibration_id !== cause) await this.reevaluate(tenantId, u.calibration_id, standard, cause);
  }

  /**
   * Recomputes what one standard says about a stored calibration, from the standard's history as
   * held now: the issues about other standards (and the certificate number cited, judged when it
   * was stored) are kept; when the verdict changes, the row is updated, the change logged with its
   * cause, put on the audit trail, and the instrument's status recomputed.
   */
  private async reevaluate(tenantId: string, calibrationId: string, standard: string, cause: string) {
    const row = await this.calibrations.get(wholeTenant(tenantId), calibrationId);
    if (!row || !this.reviews) return;
    const body = JSON.parse(row.body) as CalibrationBody;
    const s = body.standards.find((x) => x.id === standard);
    if (!s) return;
    const before = JSON.parse(row.trace_issues) as string[];
    const mine = (l: string) => l.startsWith(`${standard}: `) && !l.includes(CERTIFICATE_DIFFERS);
    const fresh = await this.calibration.standardIssues(tenantId, row.equipment, s, row.calibrated_at, {
      registerCertificate: false,
    });
    if (standard !== row.equipment) {
      const history = (await this.calibrations.forEquipment(wholeTenant(tenantId), standard)).map(calLite);
      const zone = await this.calibration.zoneOf(tenantId, row.equipment);
      const later = laterFailureIssue(standard, history, row.calibrated_at, zone);
      if (later) fresh.push(later);
    }
    const after = [...new Set([...before.filter((l) => !mine(l)), ...fresh])];
    const same = after.length === before.length && after.every((l) => before.includes(l));
    if (same) return;
    const status = after.length ? 'flagged' : 'ok';
    const at = new Date().toISOString();
    await this.reviews.reevaluated({
      tenant_id: tenantId,
      calibration_id: row.id,
      standard,
      cause,
      status_before: row.traceability,
      status_after: status,
      issues_before: row.trace_issues,
      issues_after: JSON.stringify(after),
      at,
    });
    await this.audit?.record({
      tenantId,
      action: 'calibration.traceability',
      outcome: 'success',
      actor: { type: 'system', id: 'traceability' },
      target: { type: 'calibration', id: row.id },
      before: { status: row.traceability, issues: before },
      after: { status, issues: after, standard, cause },
      detail: `re-evaluated: the history of reference standard ${standard} changed (calibration ${cause})`,
    });
    await this.calibration.refresh(tenantId, row.equipment);
  }

  /**
   * The suspect chain of a failed reference standard (its latest failure unless `calibrationId`
   * names one): the calibrations made with it inside its suspect window (standard → instrument),
   * each with how many records its instrument made until its next valid calibration
   * (instrument → product). Instruments the viewer may not see are left out. Export control of the
   * standard first (`CalibrationService.mustGet`: a refusal audited, a cleared access logged).
   */
  async suspectChain(
    v: ExportCaller,
    tag: string,
    calibrationId?: string,
  ): Promise<{ window: SuspectWindow | null; links: ChainLink[] }> {
    const { window, instruments } = await this.chainInstruments(v, tag, calibrationId);
    const links: ChainLink[] = [];
    for (const i of instruments)
      links.push({
        ...i,
        suspectRecords: await this.index.countSuspect(v, i.equipment, i.calibratedAt, i.until),
      });
    return { window, links };
  }

  /**
   * The records of a suspect chain by name (instrument → product), one page: for each link in
   * order, the records its instrument made in (calibratedAt, until], read with the one suspect
   * query (InspectionRepository.suspect) as the viewer may see them (its sites; export-controlled
   * equipment only when cleared), in (observedAt, edge, seq) order within a link.
   */
  async chainRecords(
    v: ExportCaller,
    tag: string,
    q: { calibration?: string | undefined; after?: ChainCursor | undefined; limit: number },
  ): Promise<{
    window: SuspectWindow | null;
    rows: { instrument: ChainInstrument; row: SuspectRow }[];
    next: string | null;
  }> {
    const { window, instruments } = await this.chainInstruments(v, tag, q.calibration);
    let from = 0;
    if (q.after) {
      from = instruments.findIndex((i) => i.calibrationId === q.after!.link);
      if (from < 0)
        throw new ProblemError('CLOUD_VALIDATION', 'the cursor names a link that is not in this chain');
    }
    const rows: { instrument: ChainInstrument; row: SuspectRow }[] = [];
    for (let n = from; n < instruments.length; n++) {
      const i = instruments[n]!;
      const left = q.limit - rows.length;
      const page = await this.index.suspect(
        v,
        i.equipment,
        i.calibratedAt,
        i.until,
        n === from ? q.after : undefined,
        left,
      );
      for (const row of page) rows.push({ instrument: i, row });
      if (page.length === left)
        return { window, rows, next: encodeChainCursor(i.calibrationId, page.at(-1)!) };
    }
    return { window, rows, next: null };
  }

  /**
   * The links of a suspect chain the viewer may see, without their counts; 404 when the standard
   * is absent or hidden from the viewer (another site, or export-controlled and not cleared: that
   * refusal is audited, and a cleared caller's access to a flagged standard logged, by `mustGet`).
   */
  private async chainInstruments(
    v: ExportCaller,
    tag: string,
    calibrationId?: string,
  ): Promise<{ window: SuspectWindow | null; instruments: ChainInstrument[] }> {
    await this.calibration.mustGet(v, tag);
    const window = await this.window(v.tenantId, tag, calibrationId);
    if (!window || !this.reviews) return { window, instruments: [] };
    // The instruments calibrated with it that the viewer sees (the query applies the scope).
    const users = (
      await this.reviews.citing(v, tag, {
        after: window.start,
        upTo: window.failedCalibration.calibratedAt,
      })
    ).filter((u) => u.equipment !== tag);
    const instruments: ChainInstrument[] = [];
    for (const u of users) {
      const cals = (await this.calibrations.forEquipment(v, u.equipment)).map(calLite);
      const next = cals.find((c) => c.calibratedAt > u.calibrated_at && isValid(c)) ?? null;
      instruments.push({
        equipment: u.equipment,
        calibrationId: u.calibration_id,
        calibratedAt: u.calibrated_at,
        until: next?.calibratedAt ?? null,
      });
    }
    return { window, instruments };
  }

  /**
   * The suspect window of a failed calibration (the latest failure unless `calibrationId` names
   * one): from the last valid calibration before it (exclusive) to the first valid calibration
   * at or after it (inclusive; the failed one itself when it was adjusted and left passing), or
   * open-ended while none exists.
   */
  async window(tenantId: string, tag: string, calibrationId?: string): Promise<SuspectWindow | null> {
    // The standard's own history, whoever asks: a reader's route has checked it may see `tag`.
    return suspectWindowOf(
      tag,
      await this.calibrations.forEquipment(wholeTenant(tenantId), tag),
      calibrationId,
    );
  }

  /**
   * The positions the given records name (RECORDS.md, "Positions"), each resolved to the device
   * installed there at the record's observedAt; device null: unresolved (nothing installed then,
   * no such position, or a device the viewer may not see).
   */
  async namedPositions(
    v: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>,
    keys: readonly { edge: string; seq: number; observedAt: string }[],
  ): Promise<Map<string, NamedPosition[]>> {
    const out = new Map<string, NamedPosition[]>();
    for (const r of await this.index.namedPositions(v, keys)) {
      const key = `${r.edge_id}:${r.seq}`;
      const list = out.get(key) ?? [];
      list.push({ position: r.position, label: `${r.equipment} / ${r.position}`, device: r.device });
      out.set(key, list);
    }
    return out;
  }

  /**
   * One page of the records made with `tag` in its suspect window, as `v` may see them (site
   * scope, and export control of the equipment each record was made on); 404 when the equipment
   * is absent or hidden from `v`. Export control of `tag` first (`CalibrationService.mustGet`: a
   * refusal audited, a cleared access logged).
   */
  async suspectRecords(
    v: ExportCaller,
    tag: string,
    q: {
      calibration?: string | undefined;
      after?: Cursor | undefined;
      limit: number;
    },
  ): Promise<{
    window: SuspectWindow | null;
    rows: SuspectRow[];
    next: string | null;
    /** How far off the failed instrument read (for each record's margin and risk). */
    error: InstrumentError | null;
  }> {
    await this.calibration.mustGet(v, tag);
    const window = await this.window(v.tenantId, tag, q.calibration);
    if (!window) return { window, rows: [], next: null, error: null };
    const failed = await this.calibrations.get(v, window.failedCalibration.id);
    const error = failed ? instrumentError(JSON.parse(failed.body) as CalibrationBody) : null;
    const rows = await this.index.suspect(v, tag, window.start, window.end, q.after, q.limit);
    const last = rows.at(-1);
    return { window, rows, next: rows.length === q.limit && last ? encodeCursor(last) : null, error };
  }

  /**
   * Every record `suspectRecords` lists for `tag` in (start, end], page by page, in (observedAt,
   * edge, seq) order: the one suspect query (InspectionRepository.suspect), which the
   * out-of-tolerance cases and the compliance reports read too. `viewer` null: every record (a
   * case's own bookkeeping, a report that screens its rows itself).
   */
  async *suspectPages(
    tenantId: string,
    tag: string,
    start: string | null,
    end: string | null,
    opts: { pageSize?: number; viewer?: Pick<Viewer, 'tenantId' | 'sites' | 'cleared'> | null } = {},
  ): AsyncGenerator<SuspectRow[]> {
    const pageSize = opts.pageSize ?? 2000;
    let after: Cursor | undefined;
    for (;;) {
      const rows = await this.index.suspect(
        opts.viewer ?? wholeTenant(tenantId),
        tag,
        start,
        end,
        after,
        pageSize,
      );
      if (rows.length > 0) yield rows;
      if (rows.length < pageSize) return;
      const last = rows.at(-1)!;
      after = { observedAt: last.observed_at, edge: last.edge_id, seq: Number(last.seq) };
    }
  }

  /**
   * How many usage and inspection records fall in a suspect window, every one of the tenant's (as
   * suspectPages lists them without a viewer: a case's bookkeeping, a report that screens its rows
   * itself); a reader's count is the repository's countSuspect with its viewer.
   */
  countSuspect(tenantId: string, tag: string, start: string | null, end: string | null): Promise<number> {
    return this.index.countSuspect(wholeTenant(tenantId), tag, start, end);
  }

  /** Usage or inspection records as `v` may see them (the repository's query applies the scope). */
  async records(v: Viewer, q: TraceableQuery) {
    const rows = await this.index.query(v, {
      ...q,
      from: q.from !== undefined ? normalizeTime(q.from) : undefined,
      to: q.to !== undefined ? normalizeTime(q.to) : undefined,
    });
    const last = rows.at(-1);
    return { items: rows.map(itemView), next: rows.length === q.limit && last ? encodeCursor(last) : null };
  }

  async firstPassYield(
    v: Viewer,
    q: {
      /**
       * Each end a date (YYYY-MM-DD: a whole local day of each rig's own site, `to` inclusive) or
       * a timestamp (an instant, `to` exclusive).
       */
      from: string;
      to: string;
      siteId?: string | undefined;
      equipment?: string | undefined;
    },
    /** Each site's time zone and shifts (a site not listed: UTC and the default shifts). */
    siteShifts: ReadonlyMap<string, { timeZone: string; shifts: readonly Shift[] }> = new Map(),
  ) {
    // Each site's period in its own zone (the same instants for timestamps); the database reads
    // the span of them all, and each quarter hour is kept in its own site's period (a site's local
    // day starts on a quarter hour in every zone).
    const zoneOf = (siteId: string) => siteShifts.get(siteId)?.timeZone ?? 'UTC';
    const periods = new Map<string, { start: number; end: number }>();
    const periodAt = (siteId: string) => {
      let p = periods.get(siteId);
      if (!p) periods.set(siteId, (p = periodInstants(q.from, q.to, zoneOf(siteId))));
      return p;
    };
    const asked = q.siteId ? [q.siteId] : [...siteShifts.keys()];
    const spans = (asked.length > 0 ? asked : ['']).map(periodAt);
    const from = new Date(Math.min(...spans.map((p) => p.start))).toISOString();
    const to = new Date(Math.max(...spans.map((p) => p.end))).toISOString();
    // The quarter hours folded into rigs, rig days and rig shifts in one pass (a tenant's 30 days
    // at 10 M records are ~41,000 rows): each distinct quarter hour parsed once, each placed once
    // per time zone and shifts (sites share them), no per-row string keys on the common path.
    const fromDay = isLocalDate(q.from);
    const toDay = isLocalDate(q.to);
    const rows = await this.index.firstPassYieldByQuarter(v, { ...q, from, to });
    const fold = foldYield(
      rows,
      (siteId) => {
        const site = siteShifts.get(siteId);
        return { timeZone: site?.timeZone ?? 'UTC', shifts: site?.shifts ?? DEFAULT_SHIFTS };
      },
      (siteId, at) => {
        if (!fromDay && !toDay) return true;
        const p = periodAt(siteId);
        return (!fromDay || at >= p.start) && (!toDay || at < p.end);
      },
    );
    return {
      from,
      to,
      /** Per rig and local day of the rig's site (each site in its own time zone). */
      perRigDay: fold.perRigDay,
      perRig: fold.perRig,
      /** Per rig, site-local shift day and shift (the site's shifts and time zone). */
      perRigShift: fold.perRigShift,
      /** The shifts of the sites in the answer (and of the site asked for), by start. */
      shifts: [...new Set([...(q.siteId && siteShifts.has(q.siteId) ? [q.siteId] : []), ...fold.sites])].map(
        (siteId) => {
          const site = siteShifts.get(siteId);
          return {
            siteId,
            timeZone: site?.timeZone ?? 'UTC',
            shifts: withEnds(site?.shifts ?? DEFAULT_SHIFTS),
          };
        },
      ),
    };
  }
}
