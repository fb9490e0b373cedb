/**
 * The hand-entered calibration form: what the technician types, checked field by field before
 * anything is sent, and turned into the body of POST /calibrations (with the electronic
 * signature: the password again and what the signature means). Pass/fail per point is computed
 * here from the tolerance, never typed, so the result cannot disagree with the numbers.
 */

import { limitsFromTolerance, toleranceVerdict } from '@rigtrace/protocols/verdict';
import type { Answer } from './answer.js';
import { isoToZonedInput, zonedInputToIso } from './time.js';

export interface PointDraft {
  name: string;
  unit: string;
  nominal: string;
  lowerTolerance: string;
  upperTolerance: string;
  asFound: string;
  /** Empty when the instrument was not adjusted at this point. */
  asLeft: string;
  /** From the procedure: name, unit, nominal and tolerances are the procedure's and cannot be typed. */
  fixed?: boolean;
}

/** A procedure revision as the cloud gives it (GET /procedures, GET /procedures/{id}). */
export type Procedure = Answer<'/procedures', 'get'>['items'][number];

/** The procedure's test points, pre-filled and fixed: only the readings are typed. */
export function pointsFromProcedure(p: Procedure): PointDraft[] {
  return p.points.map((x) => ({
    name: x.name,
    unit: x.unit,
    nominal: String(x.nominal),
    lowerTolerance: String(x.lowerTolerance),
    upperTolerance: String(x.upperTolerance),
    asFound: '',
    asLeft: '',
    fixed: true,
  }));
}

/** "995 … 1005" from a point's nominal and tolerances (in decimal: 60 ± 0.1 is 59.9 … 60.1), or null. */
export function limitsText(
  p: Pick<PointDraft, 'nominal' | 'lowerTolerance' | 'upperTolerance'>,
): string | null {
  const [n, lo, up] = [num(p.nominal), num(p.lowerTolerance), num(p.upperTolerance)];
  if (n === undefined || lo === undefined || up === undefined) return null;
  const l = limitsFromTolerance(n, lo, up);
  return `${l.lsl} … ${l.usl}`;
}

export interface CalibrationDraft {
  equipment: string;
  /** `datetime-local` value, read in the site's time zone (the `zone` given to validate and fill). */
  calibratedAt: string;
  technician: string;
  certificate: string;
  /** Reference standard asset tags used. */
  standards: { id: string; certificate?: string; dueDate?: string }[];
  points: PointDraft[];
  adjusted: boolean;
  password: string;
  meaning: string;
  /** The procedure revision followed (pre-fills and fixes the points). */
  procedure?: { id: string; revision: string } | null;
  /** Ambient temperature (°C) and relative humidity (%) during the calibration; empty: not stated. */
  temperature?: string;
  humidity?: string;
  remarks?: string;
}

export type FormErrors = Record<string, string>;

export const SIGNATURE_MEANINGS = ['performed', 'reviewed', 'verified'] as const;

export function emptyPoint(): PointDraft {
  return { name: '', unit: '', nominal: '', lowerTolerance: '', upperTolerance: '', asFound: '', asLeft: '' };
}

/** Now, as a `datetime-local` value in the site's time zone `zone` (YYYY-MM-DDTHH:MM). */
export function nowInZone(zone: string, now = new Date()): string {
  return isoToZonedInput(now.toISOString(), zone);
}

/** The typed "Calibrated at" as an RFC 3339 UTC instant (read in `zone`), or null. */
export function calibratedAtIso(value: string, zone: string): string | null {
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(value) ? zonedInputToIso(value, zone) : null;
}

function num(s: string): number | undefined {
  const t = s.trim();
  if (t === '' || !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * A reading against nominal and tolerance, by the one verdict rule the edge and the cloud use
 * (exact on the decimal values as typed: 59.9 against 60 ± 0.1 passes).
 */
export function pointResult(nominal: number, lower: number, upper: number, value: number): 'pass' | 'fail' {
  return toleranceVerdict(value, { nominal, lowerTolerance: lower, upperTolerance: upper });
}

export interface ManualCalibrationRequest {
  equipment: string;
  enteredBy: string;
  body: {
    procedure?: { id: string; revision: string };
    technician: string;
    certificate?: { number: string };
    environment?: { temperatureC?: number; humidityPct?: number };
    remarks?: string;
    standards: { id: string; certificate?: string; dueDate?: string }[];
    points: {
      name: string;
      nominal: number;
      unit: string;
      asFound: number;
      asLeft?: number;
      lowerTolerance: number;
      upperTolerance: number;
      asFoundResult: 'pass' | 'fail';
      asLeftResult?: 'pass' | 'fail';
    }[];
    adjusted: boolean;
    asFoundResult: 'pass' | 'fail';
    asLeftResult?: 'pass' | 'fail';
    calibratedAt: string;
  };
  signature: { password: string; meaning: string };
}

/**
 * Checks the draft; the errors are keyed by field id (`points.0.asFound`, `calibratedAt`, …).
 * "Calibrated at" is read in `zone`, the time zone of the instrument's site.
 */
export function validateCalibration(
  d: CalibrationDraft,
  now = new Date(),
  zone = 'UTC',
): { ok: true; request: ManualCalibrationRequest } | { ok: false; errors: FormErrors } {
  const errors: FormErrors = {};
  if (!d.equipment.trim()) errors.equipment = 'Choose the instrument.';
  const atIso = calibratedAtIso(d.calibratedAt, zone);
  const at = atIso ? new Date(atIso) : null;
  if (!at || Number.isNaN(at.getTime())) errors.calibratedAt = 'Enter the date and time of the calibration.';
  else if (at.getTime() > now.getTime() + 60_000)
    errors.calibratedAt = 'The calibration cannot be in the future.';
  if (!d.technician.trim()) errors.technician = 'Enter who performed it (name and qualification).';
  else if (d.technician.trim().length > 128) errors.technician = 'At most 128 characters.';
  if (d.certificate.trim().length > 64) errors.certificate = 'At most 64 characters.';
  if (d.points.length === 0) errors.points = 'Add at least one measurement point.';
  const temperature = d.temperature?.trim() ? num(d.temperature) : null;
  const humidity = d.humidity?.trim() ? num(d.humidity) : null;
  if (temperature === undefined) errors.temperature = 'Enter the temperature in °C, or leave it empty.';
  if (humidity === undefined || (humidity !== null && (humidity < 0 || humidity > 100)))
    errors.humidity = 'Enter the relative humidity in % (0–100), or leave it empty.';
  if ((d.remarks?.trim().length ?? 0) > 2000) errors.remarks = 'At most 2000 characters.';

  const points: ManualCalibrationRequest['body']['points'] = [];
  d.points.forEach((p, i) => {
    const k = (f: string) => `points.${i}.${f}`;
    if (!p.name.trim()) errors[k('name')] = 'Name the point, e.g. flow@60.';
    if (!p.unit.trim()) errors[k('unit')] = 'Enter the unit.';
    const nominal = num(p.nominal);
    const lower = num(p.lowerTolerance);
    const upper = num(p.upperTolerance);
    const asFound = num(p.asFound);
    const asLeft = p.asLeft.trim() === '' ? null : num(p.asLeft);
    if (nominal === undefined) errors[k('nominal')] = 'Enter a number.';
    if (lower === undefined) errors[k('lowerTolerance')] = 'Enter a number (e.g. -0.5).';
    else if (lower > 0) errors[k('lowerTolerance')] = 'The lower tolerance is at most 0.';
    if (upper === undefined) errors[k('upperTolerance')] = 'Enter a number (e.g. 0.5).';
    else if (upper < 0) errors[k('upperTolerance')] = 'The upper tolerance is at least 0.';
    if (asFound === undefined) errors[k('asFound')] = 'Enter the reading before any adjustment.';
    if (asLeft === undefined) errors[k('asLeft')] = 'Enter a number, or leave empty if not adjusted.';
    if (nominal === undefined || lower === undefined || upper === undefined || asFound === undefined) return;
    if (asLeft === undefined || lower > 0 || upper < 0) return;
    points.push({
      name: p.name.trim(),
      nominal,
      unit: p.unit.trim(),
      asFound,
      lowerTolerance: lower,
      upperTolerance: upper,
      asFoundResult: pointResult(nominal, lower, upper, asFound),
      ...(asLeft !== null ? { asLeft, asLeftResult: pointResult(nominal, lower, upper, asLeft) } : {}),
    });
  });
  const anyAsLeft = points.some((p) => p.asLeft !== undefined);
  if (anyAsLeft && !d.adjusted)
    errors.adjusted = 'As-left values mean the instrument was adjusted: tick "Adjusted".';
  if (!d.password) errors.password = 'Enter your password to sign.';
  if (!d.meaning.trim()) errors.meaning = 'Choose what your signature means.';
  if (Object.keys(errors).length > 0) return { ok: false, errors };

  const asFoundResult = points.every((p) => p.asFoundResult === 'pass') ? 'pass' : 'fail';
  const asLeftResult = anyAsLeft
    ? points.every((p) => (p.asLeftResult ?? p.asFoundResult) === 'pass')
      ? 'pass'
      : 'fail'
    : undefined;
  return {
    ok: true,
    request: {
      equipment: d.equipment.trim(),
      enteredBy: d.technician.trim(),
      body: {
        ...(d.procedure ? { procedure: { id: d.procedure.id, revision: d.procedure.revision } } : {}),
        technician: d.technician.trim(),
        ...(d.certificate.trim() ? { certificate: { number: d.certificate.trim() } } : {}),
        ...(typeof temperature === 'number' || typeof humidity === 'number'
          ? {
              environment: {
                ...(typeof temperature === 'number' ? { temperatureC: temperature } : {}),
                ...(typeof humidity === 'number' ? { humidityPct: humidity } : {}),
              },
            }
          : {}),
        ...(d.remarks?.trim() ? { remarks: d.remarks.trim() } : {}),
        standards: d.standards,
        points,
        adjusted: d.adjusted,
        asFoundResult,
        ...(asLeftResult ? { asLeftResult } : {}),
        calibratedAt: at!.toISOString(),
      },
      signature: { password: d.password, meaning: d.meaning.trim() },
    },
  };
}

/** What the cloud reads from a Digital Calibration Certificate (POST /calibrations/dcc-read). */
export type DccRead = Answer<'/calibrations/dcc-read', 'post'>['dcc'];

/** A number as the form shows it: 12 significant digits (4.0015 − 4 is 0.0015, not 0.00149999…). */
const dec = (v: number) => String(Number(v.toPrecision(12)));
const same = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();

/**
 * The form filled from a DCC before it is signed: the certificate number, the calibration day
 * (the DCC's performance date, at the time already typed; never in the future of the site's
 * `zone`), and per point the
 * readings. With a procedure the points stay the procedure's (matched by name, else nominal and
 * unit) and only the readings are filled; without one the DCC's points replace the typed ones,
 * tolerances from the DCC's limits (else those typed for a point of the same name). `notes` names
 * what could not be filled.
 */
export function fillFromDcc(
  d: CalibrationDraft,
  dcc: DccRead,
  now = new Date(),
  zone = 'UTC',
): { draft: CalibrationDraft; notes: string[] } {
  const notes: string[] = [];
  const out: CalibrationDraft = { ...d, points: d.points.map((p) => ({ ...p })) };
  if (dcc.certificateNumber) out.certificate = dcc.certificateNumber.slice(0, 64);
  const day = dcc.endPerformanceDate ?? dcc.beginPerformanceDate;
  if (day && /^\d{4}-\d{2}-\d{2}$/.test(day)) {
    const time = /T(\d{2}:\d{2})$/.exec(d.calibratedAt)?.[1] ?? '12:00';
    const at = `${day}T${time}`;
    const latest = nowInZone(zone, now);
    out.calibratedAt = at > latest ? latest : at;
  }
  // The environment the certificate states replaces what was typed.
  if (dcc.environment?.temperatureC !== undefined) out.temperature = dec(dcc.environment.temperatureC);
  if (dcc.environment?.humidityPct !== undefined) out.humidity = dec(dcc.environment.humidityPct);
  const fixed = out.points.some((p) => p.fixed);
  const reading = (v: number | null) => (v === null ? '' : dec(v));
  if (fixed) {
    const open = new Set(out.points.map((_, i) => i));
    for (const x of dcc.points) {
      let i = out.points.findIndex((p, j) => open.has(j) && same(p.name, x.name));
      if (i === -1 && x.nominal !== null)
        i = out.points.findIndex(
          (p, j) => open.has(j) && Number(p.nominal) === x.nominal && same(p.unit, x.unit),
        );
      if (i === -1) {
        notes.push(`${x.name} is on the certificate but not in the procedure.`);
        continue;
      }
      open.delete(i);
      out.points[i]!.asFound = reading(x.asFound);
      out.points[i]!.asLeft = reading(x.asLeft);
    }
    for (const i of open) notes.push(`${out.points[i]!.name}: no reading on the certificate.`);
  } else {
    out.points = dcc.points.map((x) => {
      const typed = d.points.find((p) => p.name.trim() !== '' && same(p.name, x.name));
      const tol = (limit: number | undefined, typedTol: string | undefined) =>
        limit !== undefined && x.nominal !== null ? dec(limit - x.nominal) : (typedTol ?? '');
      const p: PointDraft = {
        name: x.name,
        unit: x.unit,
        nominal: reading(x.nominal),
        lowerTolerance: tol(x.lowerLimit, typed?.lowerTolerance),
        upperTolerance: tol(x.upperLimit, typed?.upperTolerance),
        asFound: reading(x.asFound),
        asLeft: reading(x.asLeft),
      };
      if (p.lowerTolerance === '' || p.upperTolerance === '')
        notes.push(`${x.name}: the certificate gives no limits; enter the tolerances.`);
      return p;
    });
  }
  if (out.points.some((p) => p.asLeft !== '')) out.adjusted = true;
  return { draft: out, notes };
}
