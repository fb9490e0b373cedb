import {
  limitVerdict,
  limitsFromTolerance,
  overallVerdict,
  toleranceFromLimits,
  toleranceVerdict,
  type Verdict,
} from '@rigtrace/protocols/verdict';
import type { RecordDraft } from '../buffer/edge-log.js';
import type {
  AnyRecordMapping,
  CalibrationFieldsMapping,
  InspectionFieldsMapping,
  UsageFieldsMapping,
} from '../config/config.schema.js';
import {
  MissingValue,
  compileValue,
  describe,
  toEpochMs,
  type CompiledValue,
  type Scope,
} from './expressions.js';

type CalibrationBody = Extract<RecordDraft, { kind: 'calibration' }>['body'];
type InspectionBody = Extract<RecordDraft, { kind: 'inspection' }>['body'];
type UsageBody = Extract<RecordDraft, { kind: 'usage' }>['body'];

/** Why a result could not become a record: one line per field, naming the field and the value. */
export class MappingProblems extends Error {
  constructor(
    readonly problems: string[],
    /**
     * The values among them the device did not give this time (Unavailable.unread): reading the
     * result again may give them. Empty when every problem is a value read that does not fit.
     */
    readonly unread: string[] = [],
  ) {
    super(problems.join('; '));
  }
}

/** Where the mapped record comes from and what it is about, given by the collector. */
export interface MappingContext {
  /** The source's asset tag (the default equipment). */
  equipment: string;
  source: RecordDraft['source'];
  /** When the trigger fired (the default time of the result). */
  at: Date;
}

type Field = { path: string; value: CompiledValue };

/** Compiles one field; a parse error becomes a config problem naming the field. */
function field(
  path: string,
  spec: unknown,
  tables: Record<string, Record<string, unknown>>,
  problems: string[],
) {
  try {
    return { path, value: compileValue(spec, tables) };
  } catch (err) {
    problems.push(`${path}: the expression does not parse: ${firstLine(err)}`);
    return { path, value: compileValue(null) };
  }
}

const firstLine = (err: unknown) => String((err as Error).message ?? err).split('\n')[0]!;

/**
 * Reads one field: its value, converted to the kind the record wants. Problems name the field,
 * its expression and the value that did not fit; they are collected, not thrown, so one message
 * lists everything wrong with a result.
 */
class Reader {
  readonly problems: string[] = [];
  /** The values the problems name that were not read (MissingValue.unread). */
  readonly unread: string[] = [];
  constructor(private scope: Scope) {}

  with(extra: Scope): Reader {
    const r = new Reader({ ...this.scope, ...extra });
    (r as { problems: string[] }).problems = this.problems;
    (r as { unread: string[] }).unread = this.unread;
    return r;
  }

  /** Throws the problems found, if any. */
  check(): void {
    if (this.problems.length > 0) throw new MappingProblems(this.problems, [...new Set(this.unread)]);
  }

  /**
   * The field's value. A value the result simply does not have (a message without that key) is
   * "not set" for an optional field, a problem for a required one; any other failure is a problem.
   */
  raw(f: Field | undefined, required = false): unknown {
    if (!f) return undefined;
    try {
      return f.value.evaluate(this.scope);
    } catch (err) {
      const where = f.value.source ? `${f.path} (=${f.value.source})` : f.path;
      if (err instanceof MissingValue) {
        if (err.absent && !required) return undefined;
        this.problems.push(`${where}: ${err.valueName} ${err.reason}`);
        if (err.unread) this.unread.push(err.valueName);
      } else this.problems.push(`${where}: ${firstLine(err)}`);
      return Reader.FAILED;
    }
  }

  /** What raw() returns when the field failed (its problem is recorded already). */
  static readonly FAILED = Symbol('failed');

  private bad(f: Field, v: unknown, want: string): undefined {
    const where = f.value.source ? `${f.path} (=${f.value.source})` : f.path;
    this.problems.push(`${where}: expected ${want}, got ${describe(v)}`);
    return undefined;
  }

  number(f: Field | undefined, required = false): number | undefined {
    if (!f) return undefined;
    const v = this.raw(f, required);
    if (v === Reader.FAILED) return undefined;
    if (v === undefined || v === null || v === '') return required ? this.missing(f, v) : undefined;
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'string' && /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(v)) return Number(v);
    return this.bad(f, v, 'a number');
  }

  text(f: Field | undefined, required = false): string | undefined {
    if (!f) return undefined;
    const v = this.raw(f, required);
    if (v === Reader.FAILED) return undefined;
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    if (typeof v === 'string' && v.trim() !== '') return v.trim();
    if (v === undefined || v === null || v === '') return required ? this.missing(f, v) : undefined;
    return this.bad(f, v, 'a text');
  }

  date(f: Field | undefined): string | undefined {
    const ms = this.time(f);
    return ms === undefined ? undefined : new Date(ms).toISOString().slice(0, 10);
  }

  timestamp(f: Field | undefined): string | undefined {
    const ms = this.time(f);
    return ms === undefined ? undefined : new Date(ms).toISOString();
  }

  private time(f: Field | undefined): number | undefined {
    if (!f) return undefined;
    const v = this.raw(f);
    if (v === Reader.FAILED || v === undefined || v === null || v === '') return undefined;
    try {
      const ms = toEpochMs(v);
      // OPC UA's "no date" (1601-01-01) and the Unix epoch itself are "not set", not a date.
      if (ms <= 0) return undefined;
      return ms;
    } catch {
      return this.bad(f, v, 'a date or time (DateTime, ISO text, epoch seconds or ms)');
    }
  }

  bool(f: Field | undefined): boolean | undefined {
    if (!f) return undefined;
    const v = this.raw(f);
    if (v === Reader.FAILED || v === undefined || v === null) return undefined;
    if (typeof v === 'boolean') return v;
    if (v === 0 || v === 1) return v === 1;
    return this.bad(f, v, 'true or false');
  }

  verdict(f: Field | undefined): Verdict | undefined {
    if (!f) return undefined;
    const v = this.raw(f);
    if (v === Reader.FAILED || v === undefined || v === null) return undefined;
    if (typeof v === 'boolean') return v ? 'pass' : 'fail';
    if (typeof v === 'string') {
      const t = v.trim().toLowerCase();
      if (['pass', 'passed', 'ok', 'good', 'true'].includes(t)) return 'pass';
      if (['fail', 'failed', 'nok', 'not ok', 'bad', 'false'].includes(t)) return 'fail';
    }
    return this.bad(f, v, 'true/false or "pass"/"fail" (for a code, write e.g. =Result == 1)');
  }

  count(f: Field): number | undefined {
    const v = this.raw(f, true);
    if (Array.isArray(v)) return v.length;
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 200) return v;
    if (v === Reader.FAILED || v === undefined) return undefined;
    return this.bad(f, v, 'a count 0..200 or an array');
  }

  private missing(f: Field, v: unknown): undefined {
    const where = f.value.source ? `${f.path} (=${f.value.source})` : f.path;
    this.problems.push(`${where}: required, got ${describe(v)}`);
    return undefined;
  }
}

type Fields<T> = { [K in keyof T]-?: Field | undefined };

function compileFields<T extends object>(
  prefix: string,
  spec: T,
  keys: readonly (keyof T & string)[],
  tables: Record<string, Record<string, unknown>>,
  problems: string[],
): Fields<T> {
  const out = {} as Fields<T>;
  for (const k of keys) {
    const v = spec[k];
    out[k] = v === undefined ? undefined : field(`${prefix}.${k}`, v, tables, problems);
  }
  return out;
}

const CAL_KEYS = [
  'equipment',
  'calibratedAt',
  'nextDue',
  'receivedDate',
  'procedure',
  'procedureRevision',
  'technician',
  'lab',
  'certificate',
  'certificateUri',
  'standardId',
  'standardCertificate',
  'standardDueDate',
  'standardUncertainty',
  'temperatureC',
  'humidityPct',
  'adjusted',
  'deviceResult',
  'decisionRule',
  'conformity',
] as const;
const CAL_POINT_KEYS = [
  'name',
  'nominal',
  'unit',
  'asFound',
  'asLeft',
  'tolerance',
  'lowerTolerance',
  'upperTolerance',
  'lowerLimit',
  'upperLimit',
  'uncertainty',
  'deviceResult',
] as const;
const INSP_KEYS = [
  'equipment',
  'observedAt',
  'partSerial',
  'workOrder',
  'operator',
  'testPlan',
  'trimCode',
  'deviceResult',
] as const;
const USAGE_KEYS = [
  'equipment',
  'observedAt',
  'event',
  'cycles',
  'operator',
  'workOrder',
  'partSerial',
  'durationS',
] as const;
const CHAR_KEYS = [
  'name',
  'measured',
  'unit',
  'nominal',
  'lsl',
  'usl',
  'tolerance',
  'gauge',
  'position',
  'deviceResult',
] as const;

type CalPointSpec = Exclude<CalibrationFieldsMapping['points'], unknown[]>;
type CharSpec = Exclude<InspectionFieldsMapping['characteristics'], unknown[]>;

/** A list of entries or one repeated entry, compiled. */
interface Entries<T> {
  each: Field | undefined;
  entries: Fields<T>[];
}

function compileEntries<T extends object>(
  prefix: string,
  spec: T[] | (T & { each: unknown }),
  keys: readonly (keyof T & string)[],
  tables: Record<string, Record<string, unknown>>,
  problems: string[],
): Entries<T> {
  if (Array.isArray(spec))
    return {
      each: undefined,
      entries: spec.map((e, i) => compileFields(`${prefix}[${i}]`, e, keys, tables, problems)),
    };
  return {
    each: field(`${prefix}.each`, spec.each, tables, problems),
    entries: [compileFields(prefix, spec, keys, tables, problems)],
  };
}

/** Runs `fn` for each entry (or each repetition, with i and n in scope). */
function forEntries<T, R>(r: Reader, e: Entries<T>, fn: (r: Reader, f: Fields<T>) => R | undefined): R[] {
  const out: R[] = [];
  if (!e.each) {
    for (const f of e.entries) {
      const x = fn(r, f);
      if (x !== undefined) out.push(x);
    }
    return out;
  }
  const n = r.count(e.each);
  for (let i = 0; i < (n ?? 0); i++) {
    const x = fn(r.with({ i, n: i + 1 }), e.entries[0]!);
    if (x !== undefined) out.push(x);
  }
  return out;
}

/** A compiled record mapping: turns a scope of named values into a record draft, or says exactly why not. */
export interface CompiledMapping {
  kind: 'calibration' | 'inspection' | 'usage';
  build(scope: Scope, ctx: MappingContext): RecordDraft;
}

/**
 * Compiles the fields of a record mapping. Expressions that do not parse are returned as problems
 * (config problems: check-config and run both refuse them); otherwise `build` turns a result's
 * values into a draft, or throws MappingProblems naming every field that did not fit.
 */
export function compileRecordMapping(
  m: AnyRecordMapping,
  prefix: string,
): { mapping: CompiledMapping; problems: string[] } {
  const problems: string[] = [];
  const tables = (m.tables ?? {}) as Record<string, Record<string, unknown>>;
  if (m.kind === 'usage') {
    const f = compileFields(`${prefix}.fields`, m.fields, USAGE_KEYS, tables, problems);
    return { mapping: { kind: 'usage', build: (scope, ctx) => buildUsage(f, scope, ctx) }, problems };
  }
  if (m.kind === 'calibration') {
    const f = compileFields(`${prefix}.fields`, m.fields, CAL_KEYS, tables, problems);
    const points = compileEntries<CalPointSpec>(
      `${prefix}.fields.points`,
      m.fields.points as CalPointSpec[],
      CAL_POINT_KEYS,
      tables,
      problems,
    );
    return {
      mapping: { kind: 'calibration', build: (scope, ctx) => buildCalibration(f, points, scope, ctx) },
      problems,
    };
  }
  const f = compileFields(`${prefix}.fields`, m.fields, INSP_KEYS, tables, problems);
  const gauges = (m.fields.gauges ?? []).map((g, i) =>
    field(`${prefix}.fields.gauges[${i}]`, g, tables, problems),
  );
  const chars = compileEntries<CharSpec>(
    `${prefix}.fields.characteristics`,
    m.fields.characteristics as CharSpec[],
    CHAR_KEYS,
    tables,
    problems,
  );
  return {
    mapping: { kind: 'inspection', build: (scope, ctx) => buildInspection(f, gauges, chars, scope, ctx) },
    problems,
  };
}

function strip<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

function buildCalibration(
  f: Fields<Pick<CalibrationFieldsMapping, (typeof CAL_KEYS)[number]>>,
  points: Entries<CalPointSpec>,
  scope: Scope,
  ctx: MappingContext,
): RecordDraft {
  const r = new Reader(scope);
  const pts = forEntries(r, points, (r, p) => {
    const name = r.text(p.name, true);
    const nominal = r.number(p.nominal, true);
    const unit = r.text(p.unit, true);
    const asFound = r.number(p.asFound, true);
    const asLeft = r.number(p.asLeft);
    let lower: number | undefined;
    let upper: number | undefined;
    if (p.tolerance) {
      const t = r.number(p.tolerance, true);
      if (t !== undefined) [lower, upper] = [-Math.abs(t), Math.abs(t)];
    } else if (p.lowerLimit || p.upperLimit) {
      const lo = r.number(p.lowerLimit, true);
      const hi = r.number(p.upperLimit, true);
      if (lo !== undefined && hi !== undefined && nominal !== undefined)
        ({ lowerTolerance: lower, upperTolerance: upper } = toleranceFromLimits(nominal, lo, hi));
    } else {
      lower = r.number(p.lowerTolerance, true);
      upper = r.number(p.upperTolerance, true);
      if (!p.lowerTolerance && !p.upperTolerance)
        r.problems.push(
          `${p.name?.path.replace(/\.name$/, '') ?? 'points'}: needs tolerance, lowerTolerance/upperTolerance or lowerLimit/upperLimit`,
        );
    }
    const uncertainty = r.number(p.uncertainty);
    const device = r.verdict(p.deviceResult);
    if (name === undefined || nominal === undefined || unit === undefined || asFound === undefined)
      return undefined;
    if (lower === undefined || upper === undefined) return undefined;
    const t = { nominal, lowerTolerance: lower, upperTolerance: upper };
    return strip({
      name,
      nominal,
      unit,
      asFound,
      asLeft,
      lowerTolerance: lower,
      upperTolerance: upper,
      uncertainty,
      asFoundResult: toleranceVerdict(asFound, t),
      asLeftResult: asLeft === undefined ? undefined : toleranceVerdict(asLeft, t),
      deviceResult: device,
    });
  });
  const equipment = r.text(f.equipment) ?? ctx.equipment;
  const calibratedAt = r.timestamp(f.calibratedAt) ?? ctx.at.toISOString();
  const standardId = r.text(f.standardId);
  const standard = standardId
    ? [
        strip({
          id: standardId,
          certificate: r.text(f.standardCertificate),
          dueDate: r.date(f.standardDueDate),
          uncertainty: r.number(f.standardUncertainty),
        }),
      ]
    : [];
  const procedure = r.text(f.procedure);
  const procedureRevision = r.text(f.procedureRevision);
  const certificate = r.text(f.certificate);
  const certificateUri = r.text(f.certificateUri);
  const lab = r.text(f.lab);
  const temperatureC = r.number(f.temperatureC);
  const humidityPct = r.number(f.humidityPct);
  const body: CalibrationBody = strip({
    procedure: procedure ? strip({ id: procedure, revision: procedureRevision }) : undefined,
    technician: r.text(f.technician),
    lab: lab ? { name: lab } : undefined,
    certificate: certificate ? strip({ number: certificate, uri: certificateUri }) : undefined,
    standards: standard,
    environment:
      temperatureC !== undefined || humidityPct !== undefined
        ? strip({ temperatureC, humidityPct })
        : undefined,
    points: pts,
    adjusted: r.bool(f.adjusted) ?? false,
    asFoundResult: overallVerdict(pts.map((p) => p.asFoundResult)),
    asLeftResult: pts.some((p) => p.asLeft !== undefined)
      ? overallVerdict(pts.map((p) => p.asLeftResult ?? p.asFoundResult))
      : undefined,
    deviceResult: r.verdict(f.deviceResult),
    calibratedAt,
    receivedDate: r.date(f.receivedDate),
    nextDue: r.date(f.nextDue),
    decisionRule: r.text(f.decisionRule),
    conformity: r.text(f.conformity),
  });
  if (pts.length === 0 && r.problems.length === 0)
    r.problems.push('fields.points: no points (the repeat count is 0)');
  r.check();
  return {
    kind: 'calibration',
    equipment,
    observedAt: calibratedAt,
    receivedAt: new Date().toISOString(),
    source: ctx.source,
    body,
  };
}

function buildInspection(
  f: Fields<Pick<InspectionFieldsMapping, (typeof INSP_KEYS)[number]>>,
  gauges: Field[],
  chars: Entries<CharSpec>,
  scope: Scope,
  ctx: MappingContext,
): RecordDraft {
  const r = new Reader(scope);
  const characteristics = forEntries(r, chars, (r, c) => {
    const name = r.text(c.name, true);
    const measured = r.number(c.measured, true);
    const unit = r.text(c.unit, true);
    const nominal = r.number(c.nominal);
    let lsl = r.number(c.lsl);
    let usl = r.number(c.usl);
    if (c.tolerance) {
      const t = r.number(c.tolerance, true);
      if (nominal === undefined) r.problems.push(`${c.tolerance.path}: a ± tolerance needs a nominal`);
      else if (t !== undefined) ({ lsl, usl } = limitsFromTolerance(nominal, -Math.abs(t), Math.abs(t)));
    }
    const device = r.verdict(c.deviceResult);
    const gauge = r.text(c.gauge);
    const position = r.text(c.position);
    if (name === undefined || measured === undefined || unit === undefined) return undefined;
    return strip({
      name,
      nominal,
      lsl,
      usl,
      measured,
      unit,
      gauge,
      position,
      result:
        lsl === undefined && usl === undefined && device ? device : limitVerdict(measured, { lsl, usl }),
      deviceResult: device,
    });
  });
  const device = r.verdict(f.deviceResult);
  const partSerial = r.text(f.partSerial, true);
  const observedAt = r.timestamp(f.observedAt) ?? ctx.at.toISOString();
  const g = gauges.map((x) => r.text(x)).filter((x): x is string => x !== undefined);
  const body: InspectionBody = strip({
    partSerial: partSerial ?? '',
    workOrder: r.text(f.workOrder),
    operator: r.text(f.operator),
    testPlan: r.text(f.testPlan),
    result: overallVerdict([device, ...characteristics.map((c) => c.result)]),
    deviceResult: device,
    characteristics,
    gauges: g.length > 0 ? g : undefined,
    trimCode: r.text(f.trimCode),
  });
  const equipment = r.text(f.equipment) ?? ctx.equipment;
  if (characteristics.length === 0 && r.problems.length === 0)
    r.problems.push('fields.characteristics: no characteristics (the repeat count is 0)');
  r.check();
  return {
    kind: 'inspection',
    equipment,
    observedAt,
    receivedAt: new Date().toISOString(),
    source: ctx.source,
    body,
  };
}

const USAGE_EVENTS = ['start', 'stop', 'cycle'] as const;

function buildUsage(f: Fields<UsageFieldsMapping>, scope: Scope, ctx: MappingContext): RecordDraft {
  const r = new Reader(scope);
  const event = r.text(f.event, true);
  if (event !== undefined && !(USAGE_EVENTS as readonly string[]).includes(event))
    r.problems.push(
      `${f.event!.path}${f.event!.value.source ? ` (=${f.event!.value.source})` : ''}: expected start, stop or cycle, got ${describe(event)} (for a code, use a lookup table)`,
    );
  const cycles = r.number(f.cycles);
  if (cycles !== undefined && !(Number.isInteger(cycles) && cycles >= 0))
    r.problems.push(`${f.cycles?.path}: expected a whole number ≥ 0, got ${cycles}`);
  const durationS = r.number(f.durationS);
  if (durationS !== undefined && durationS < 0)
    r.problems.push(`${f.durationS?.path}: expected a number ≥ 0, got ${durationS}`);
  const body: UsageBody = strip({
    event: event as UsageBody['event'],
    cycles,
    operator: r.text(f.operator),
    workOrder: r.text(f.workOrder),
    partSerial: r.text(f.partSerial),
    durationS,
  });
  const equipment = r.text(f.equipment) ?? ctx.equipment;
  const observedAt = r.timestamp(f.observedAt) ?? ctx.at.toISOString();
  r.check();
  return {
    kind: 'usage',
    equipment,
    observedAt,
    receivedAt: new Date().toISOString(),
    source: ctx.source,
    body,
  };
}
