/**
 * Reading a Digital Calibration Certificate (PTB DCC, namespace `https://ptb.de/dcc`, quantities
 * in D-SI `https://ptb.de/si`) far enough to compare it with the calibration it is attached to:
 * its identifier (the certificate number), the performance dates, and its measured points.
 *
 * The schema is not validated (it is not reachable from here); the structure read is the one the
 * DCC schema 3.x gives a result: `dcc:measurementResults/dcc:measurementResult/dcc:results/
 * dcc:result`, each with a `dcc:name` and `dcc:data/dcc:list` (or `dcc:data`) of `dcc:quantity`
 * elements holding `si:real` (`si:value`, `si:unit`, optional expanded uncertainty). Per result,
 * the quantity whose refType or name says reference/nominal is the nominal, the one that says
 * "as left" the as-left reading, and the measured value the as-found reading.
 */
import { limitsFromTolerance } from '@rigtrace/protocols/verdict';
import { childNamed, childrenNamed, descendantsNamed, parseXml, type XmlElement } from './xml.js';

export const DCC_NS = 'https://ptb.de/dcc';
export const SI_NS = 'https://ptb.de/si';
export const DCC_ROOT = 'digitalCalibrationCertificate';

/** D-SI unit text → the unit as calibration points write it (unknown units are kept as written). */
const DSI_UNITS: Record<string, string> = {
  '\\bar': 'bar',
  '\\milli\\bar': 'mbar',
  '\\pascal': 'Pa',
  '\\kilo\\pascal': 'kPa',
  '\\mega\\pascal': 'MPa',
  '\\metre': 'm',
  '\\milli\\metre': 'mm',
  '\\micro\\metre': 'µm',
  '\\degreecelsius': '°C',
  '\\kelvin': 'K',
  '\\newton': 'N',
  '\\newton\\metre': 'N·m',
  '\\volt': 'V',
  '\\milli\\volt': 'mV',
  '\\ampere': 'A',
  '\\milli\\ampere': 'mA',
  '\\ohm': 'Ω',
  '\\hertz': 'Hz',
  '\\second': 's',
  '\\milli\\second': 'ms',
  '\\micro\\second': 'µs',
  '\\kilogram': 'kg',
  '\\gram': 'g',
  '\\percent': '%',
};

/** Unit spellings that mean the same (compared after this). */
const SAME_UNIT: Record<string, string> = {
  degc: '°c',
  'deg c': '°c',
  um: 'µm',
  us: 'µs',
  ohm: 'ω',
  nm: 'n·m',
  'n m': 'n·m',
  pct: '%',
  percent: '%',
};
export function unitKey(u: string): string {
  const t = (DSI_UNITS[u.trim()] ?? u).trim().toLowerCase().replace(/\s+/g, ' ');
  return SAME_UNIT[t] ?? t;
}
export const dsiUnitText = (u: string): string => DSI_UNITS[u.trim()] ?? u.trim();

export interface DccPoint {
  name: string;
  unit: string;
  nominal: number | null;
  asFound: number | null;
  asLeft: number | null;
  uncertainty: number | null;
  /** The limits of the reading (`basic_toleranceLimitLower`/`…Upper`); absent when not given. */
  lowerLimit?: number;
  upperLimit?: number;
  /** The conformity stated for the as-found and as-left readings (`dcc:conformity` pass/fail); absent when not stated. */
  asFoundResult?: 'pass' | 'fail';
  asLeftResult?: 'pass' | 'fail';
}

export interface DccSummary {
  schemaVersion: string | null;
  /** `dcc:coreData/dcc:uniqueIdentifier`: the certificate number. */
  certificateNumber: string | null;
  beginPerformanceDate: string | null;
  endPerformanceDate: string | null;
  points: DccPoint[];
  /**
   * The environment during the calibration (`dcc:influenceConditions`): ambient temperature in
   * °C and relative humidity in %; absent when the certificate states neither.
   */
  environment?: { temperatureC?: number; humidityPct?: number };
  /** The overall as-found and as-left conformity (statements `…conformityAsFound`/`…AsLeft`); absent when not stated. */
  asFoundResult?: 'pass' | 'fail';
  asLeftResult?: 'pass' | 'fail';
}

/** A difference between what the certificate says and what was entered on the calibration. */
export interface CertificateDifference {
  /** What differs: the certificate number, the date, a point (by name) or its value. */
  field: string;
  point: string | null;
  certificate: string | number | null;
  entered: string | number | null;
  message: string;
}

export class DccError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DccError';
  }
}

const content = (el: XmlElement | undefined): string | null => {
  if (!el) return null;
  const c = childrenNamed(el, 'content', DCC_NS);
  const t = (c[0]?.text ?? el.text).trim();
  return t === '' ? null : t;
};
const textOf = (el: XmlElement | undefined): string | null => {
  const t = el?.text.trim();
  return t ? t : null;
};
function num(s: string | null, what: string): number | null {
  if (s === null) return null;
  const n = Number(s);
  if (!Number.isFinite(n)) throw new DccError(`${what} is not a number: ${s}`);
  return n;
}

type Role = 'nominal' | 'asLeft' | 'asFound' | 'lowerLimit' | 'upperLimit' | 'other';
function roleOf(q: XmlElement): Role {
  const ref = (q.attrs.refType ?? '').toLowerCase();
  const name = (content(childNamed(q, 'name', DCC_NS)) ?? '').toLowerCase();
  const says = (re: RegExp) => re.test(ref) || re.test(name);
  if (says(/referencevalue|nominal|reference value|set ?point/)) return 'nominal';
  if (says(/tolerancelimitlower|lower limit/)) return 'lowerLimit';
  if (says(/tolerancelimitupper|upper limit/)) return 'upperLimit';
  if (says(/as.?left|after adjustment/)) return 'asLeft';
  if (says(/error|deviation|uncertainty/)) return 'other';
  if (says(/measuredvalue|indicat|as.?found|measured value|reading/)) return 'asFound';
  return 'other';
}

/** `dcc:conformity` pass or fail inside an element (other statuses, or none: null). */
function conformityOf(el: XmlElement | undefined): 'pass' | 'fail' | null {
  const c = el ? descendantsNamed(el, 'conformity', DCC_NS)[0] : undefined;
  const t = textOf(c);
  return t === 'pass' || t === 'fail' ? t : null;
}

function realOf(q: XmlElement): { value: number; unit: string; uncertainty: number | null } | null {
  const real = descendantsNamed(q, 'real', SI_NS)[0];
  if (!real) return null;
  const value = num(textOf(childNamed(real, 'value', SI_NS)), 'si:value');
  const unit = textOf(childNamed(real, 'unit', SI_NS));
  if (value === null || unit === null) throw new DccError('an si:real needs si:value and si:unit');
  const unc =
    descendantsNamed(real, 'uncertainty', SI_NS)[0] ??
    descendantsNamed(real, 'valueExpandedMU', SI_NS)[0] ??
    descendantsNamed(real, 'expandedUnc', SI_NS)[0];
  const u = unc ? (childNamed(unc, 'uncertainty', SI_NS) ?? unc) : undefined;
  return { value, unit, uncertainty: u ? num(textOf(u), 'uncertainty') : null };
}

/**
 * The ambient temperature (°C) and relative humidity (%) a measurement result's influence
 * conditions state, known by their refType (`basic_temperature`, `basic_humidityRelative`) or
 * their name; D-SI units \degreecelsius or \kelvin, \percent or \one (a fraction).
 */
function environmentOf(mr: XmlElement): { temperatureC?: number; humidityPct?: number } {
  const out: { temperatureC?: number; humidityPct?: number } = {};
  const conditions = childNamed(mr, 'influenceConditions', DCC_NS);
  for (const c of conditions ? childrenNamed(conditions, 'influenceCondition', DCC_NS) : []) {
    const what = `${c.attrs.refType ?? ''} ${content(childNamed(c, 'name', DCC_NS)) ?? ''}`.toLowerCase();
    const data = childNamed(c, 'data', DCC_NS);
    const q = data ? descendantsNamed(data, 'quantity', DCC_NS)[0] : undefined;
    const real = q ? realOf(q) : data ? realOf(data) : null;
    if (!real) continue;
    // A unit we do not know is left out (then the difference check says it is not stated).
    const unit = dsiUnitText(real.unit.trim());
    if (/humidity/.test(what) && out.humidityPct === undefined) {
      if (unit === '%') out.humidityPct = real.value;
      else if (real.unit.trim() === '\\one') out.humidityPct = Number((real.value * 100).toFixed(9));
    } else if (/temperature/.test(what) && out.temperatureC === undefined) {
      if (unit === '°C') out.temperatureC = real.value;
      else if (unit === 'K') out.temperatureC = Number((real.value - 273.15).toFixed(9));
    }
  }
  return out;
}

/** Reads a DCC document (XML text). Throws DccError (or XmlError) when it cannot be read. */
export function readDcc(xml: string): DccSummary {
  const root = parseXml(xml);
  if (root.ns !== DCC_NS || root.name !== DCC_ROOT)
    throw new DccError(`the root element is not dcc:${DCC_ROOT} in ${DCC_NS}`);
  const admin = childNamed(root, 'administrativeData', DCC_NS);
  const core = admin ? childNamed(admin, 'coreData', DCC_NS) : undefined;
  const results = childNamed(root, 'measurementResults', DCC_NS);
  if (!results) throw new DccError('dcc:measurementResults is missing');
  const points: DccPoint[] = [];
  const environment: { temperatureC?: number; humidityPct?: number } = {};
  for (const mr of childrenNamed(results, 'measurementResult', DCC_NS)) {
    const env = environmentOf(mr);
    environment.temperatureC ??= env.temperatureC;
    environment.humidityPct ??= env.humidityPct;
    if (environment.temperatureC === undefined) delete environment.temperatureC;
    if (environment.humidityPct === undefined) delete environment.humidityPct;
    const rs = childNamed(mr, 'results', DCC_NS);
    for (const r of rs ? childrenNamed(rs, 'result', DCC_NS) : []) {
      const name = content(childNamed(r, 'name', DCC_NS));
      const data = childNamed(r, 'data', DCC_NS);
      if (!data) continue;
      const list = childNamed(data, 'list', DCC_NS) ?? data;
      const point: DccPoint = {
        name: name ?? `point ${points.length + 1}`,
        unit: '',
        nominal: null,
        asFound: null,
        asLeft: null,
        uncertainty: null,
      };
      for (const q of childrenNamed(list, 'quantity', DCC_NS)) {
        const role = roleOf(q);
        if (role === 'other') continue;
        const real = realOf(q);
        if (!real) continue;
        point[role] = real.value;
        if (role === 'lowerLimit' || role === 'upperLimit') continue;
        if (role !== 'nominal' || point.unit === '') point.unit = dsiUnitText(real.unit);
        if (role === 'asFound' && real.uncertainty !== null) point.uncertainty = real.uncertainty;
        const verdict = role === 'asFound' || role === 'asLeft' ? conformityOf(q) : null;
        if (verdict !== null) point[role === 'asFound' ? 'asFoundResult' : 'asLeftResult'] = verdict;
      }
      if (point.asFound !== null || point.nominal !== null) points.push(point);
    }
  }
  if (points.length === 0) throw new DccError('no measured point found in dcc:measurementResults');
  const statements = admin ? childNamed(admin, 'statements', DCC_NS) : undefined;
  const stated = (re: RegExp) =>
    conformityOf(
      (statements ? childrenNamed(statements, 'statement', DCC_NS) : []).find((st) =>
        re.test(st.attrs.refType ?? ''),
      ),
    );
  const asFound = stated(/conformityAsFound/i);
  const asLeft = stated(/conformityAsLeft/i);
  return {
    schemaVersion: root.attrs.schemaVersion ?? null,
    certificateNumber: textOf(core ? childNamed(core, 'uniqueIdentifier', DCC_NS) : undefined),
    beginPerformanceDate: textOf(core ? childNamed(core, 'beginPerformanceDate', DCC_NS) : undefined),
    endPerformanceDate: textOf(core ? childNamed(core, 'endPerformanceDate', DCC_NS) : undefined),
    points,
    ...(Object.keys(environment).length ? { environment } : {}),
    ...(asFound ? { asFoundResult: asFound } : {}),
    ...(asLeft ? { asLeftResult: asLeft } : {}),
  };
}

/** Two readings are the same when they agree to 12 significant digits (decimal text vs binary). */
const same = (a: number, b: number) =>
  a === b || Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b));
const norm = (s: string) => s.trim().toLowerCase().replace(/\s+/g, ' ');

/**
 * Every difference between a DCC and the calibration as entered: the certificate number, the
 * calibration date (outside the DCC's performance dates), and per point (matched by name, else by
 * nominal and unit) a missing point, a different nominal, unit, as-found or as-left reading.
 */
export function dccDifferences(
  dcc: DccSummary,
  body: {
    calibratedAt: string;
    certificate?: { number: string } | undefined;
    asFoundResult?: 'pass' | 'fail' | undefined;
    asLeftResult?: 'pass' | 'fail' | undefined;
    environment?: { temperatureC?: number | undefined; humidityPct?: number | undefined } | undefined;
    points: readonly {
      name: string;
      nominal: number;
      unit: string;
      asFound: number;
      asLeft?: number | undefined;
      lowerTolerance?: number | undefined;
      upperTolerance?: number | undefined;
      asFoundResult?: 'pass' | 'fail' | undefined;
      asLeftResult?: 'pass' | 'fail' | undefined;
    }[];
  },
): CertificateDifference[] {
  const out: CertificateDifference[] = [];
  const entered = body.certificate?.number ?? null;
  if (dcc.certificateNumber !== null && entered !== null && dcc.certificateNumber !== entered)
    out.push({
      field: 'certificate',
      point: null,
      certificate: dcc.certificateNumber,
      entered,
      message: `the certificate number is ${dcc.certificateNumber}; the calibration says ${entered}`,
    });
  const day = body.calibratedAt.slice(0, 10);
  const from = dcc.beginPerformanceDate ?? dcc.endPerformanceDate;
  const to = dcc.endPerformanceDate ?? dcc.beginPerformanceDate;
  if (from !== null && to !== null && (day < from || day > to))
    out.push({
      field: 'calibratedAt',
      point: null,
      certificate: from === to ? from : `${from} … ${to}`,
      entered: day,
      message: `the certificate was performed ${from === to ? `on ${from}` : `${from} … ${to}`}; the calibration is dated ${day}`,
    });
  for (const [field, label, c, v] of [
    ['asFoundResult', 'as found', dcc.asFoundResult, body.asFoundResult],
    ['asLeftResult', 'as left', dcc.asLeftResult, body.asLeftResult],
  ] as const)
    if (c !== undefined && v !== undefined && c !== v)
      out.push({
        field,
        point: null,
        certificate: c,
        entered: v,
        message: `the certificate's result ${label} is ${c}; the calibration says ${v}`,
      });
  // The environment: a condition stated on one side only, or stated differently, is a difference.
  for (const [field, label, unit] of [
    ['temperatureC', 'temperature', '°C'],
    ['humidityPct', 'relative humidity', '%'],
  ] as const) {
    const c = dcc.environment?.[field];
    const v = body.environment?.[field];
    if (c === undefined && v === undefined) continue;
    if (c !== undefined && v !== undefined && Math.abs(c - v) <= 1e-9 * Math.max(1, Math.abs(c))) continue;
    out.push({
      field: `environment.${field}`,
      point: null,
      certificate: c ?? null,
      entered: v ?? null,
      message: `${label} ${c === undefined ? 'not stated' : `${c} ${unit}`} on the certificate, ${v === undefined ? 'none' : `${v} ${unit}`} entered`,
    });
  }
  const unmatched = [...body.points];
  for (const p of dcc.points) {
    let i = unmatched.findIndex((e) => norm(e.name) === norm(p.name));
    if (i === -1 && p.nominal !== null)
      i = unmatched.findIndex((e) => same(e.nominal, p.nominal!) && unitKey(e.unit) === unitKey(p.unit));
    if (i === -1) {
      out.push({
        field: 'point',
        point: p.name,
        certificate: p.asFound,
        entered: null,
        message: `${p.name} is on the certificate but not on the calibration`,
      });
      continue;
    }
    const e = unmatched.splice(i, 1)[0]!;
    if (p.unit !== '' && unitKey(p.unit) !== unitKey(e.unit))
      out.push({
        field: 'unit',
        point: e.name,
        certificate: p.unit,
        entered: e.unit,
        message: `${e.name}: the certificate's unit is ${p.unit}, the calibration's ${e.unit}`,
      });
    const cmp = (
      field: 'nominal' | 'asFound' | 'asLeft',
      label: string,
      c: number | null,
      v: number | undefined,
    ) => {
      if (c === null) return;
      if (v === undefined || !same(c, v))
        out.push({
          field,
          point: e.name,
          certificate: c,
          entered: v ?? null,
          message: `${e.name}: ${label} ${c} ${p.unit} on the certificate, ${v === undefined ? 'none' : `${v} ${e.unit}`} entered`,
        });
    };
    cmp('nominal', 'nominal', p.nominal, e.nominal);
    cmp('asFound', 'as found', p.asFound, e.asFound);
    cmp('asLeft', 'as left', p.asLeft, e.asLeft);
    // The limits of the reading, when the certificate gives them: the entered nominal plus tolerance.
    for (const [field, label, c, tol] of [
      ['lowerLimit', 'lower limit', p.lowerLimit, e.lowerTolerance],
      ['upperLimit', 'upper limit', p.upperLimit, e.upperTolerance],
    ] as const) {
      if (c === undefined || tol === undefined) continue;
      const lim = limitsFromTolerance(e.nominal, tol, tol);
      const v = field === 'lowerLimit' ? lim.lsl : lim.usl;
      if (!same(c, v))
        out.push({
          field,
          point: e.name,
          certificate: c,
          entered: v,
          message: `${e.name}: ${label} ${c} ${p.unit} on the certificate, ${v} ${e.unit} entered`,
        });
    }
    const verdict = (
      field: 'asFoundResult' | 'asLeftResult',
      label: string,
      c: 'pass' | 'fail' | undefined,
      v: 'pass' | 'fail' | undefined,
    ) => {
      if (c === undefined || v === undefined || c === v) return;
      out.push({
        field,
        point: e.name,
        certificate: c,
        entered: v,
        message: `${e.name}: ${label} ${c} on the certificate, ${v} entered`,
      });
    };
    verdict('asFoundResult', 'as found', p.asFoundResult, e.asFoundResult);
    verdict('asLeftResult', 'as left', p.asLeftResult, e.asLeftResult);
  }
  for (const e of unmatched)
    out.push({
      field: 'point',
      point: e.name,
      certificate: null,
      entered: e.asFound,
      message: `${e.name} is on the calibration but not on the certificate`,
    });
  return out;
}
