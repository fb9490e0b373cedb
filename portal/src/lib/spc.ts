/**
 * The quality engineer's view, as pure functions (tested in portal/test/spc.test.ts): the rows a
 * control chart draws from GET /spc/chart (points, center line, control limits, violations
 * marked), Cpk per rig from GET /spc/characteristics, and the baseline a freeze would send.
 * The statistics are the cloud's (cloud/SPC.md); the portal only lays them out.
 */
import type { paths } from './api-types.js';

type Json<P extends keyof paths, M extends 'get' | 'post', S extends number> = paths[P][M] extends {
  responses: { [K in S]: { content: { 'application/json': infer T } } };
}
  ? T
  : never;

export type Characteristic = Json<'/spc/characteristics', 'get', 200>['items'][number];
export type SpcChart = Json<'/spc/chart', 'get', 200>;
export type Violation = SpcChart['violations'][number];
export type Alert = Json<'/alerts', 'get', 200>['items'][number];
export type ChartKind = 'xbar-r' | 'i-mr';
export type RuleSet = 'western-electric' | 'nelson';

export const CHART_LABEL: Record<ChartKind, string> = { 'xbar-r': 'X̄-R', 'i-mr': 'I-MR' };

/** The names of the two panels of a chart. */
export function panelNames(kind: ChartKind): { x: string; range: string } {
  return kind === 'xbar-r'
    ? { x: 'X̄ (subgroup mean)', range: 'R (subgroup range)' }
    : { x: 'Individuals', range: 'Moving range' };
}

/** One panel's columns for uPlot: x = point number, the statistic, CL, UCL, LCL, and the flagged points (else null). */
export interface Panel {
  x: number[];
  values: (number | null)[];
  center: (number | null)[];
  ucl: (number | null)[];
  lcl: (number | null)[];
  flagged: (number | null)[];
  /** Rule ids by point index, for the table and tooltips. */
  rules: Map<number, string[]>;
}

function panel(
  values: (number | null)[],
  center: number | null,
  ucl: number | null,
  lcl: number | null,
  violations: readonly Violation[],
): Panel {
  const rules = new Map<number, string[]>();
  for (const v of violations) {
    if (v.index < 0 || v.index >= values.length) continue;
    const list = rules.get(v.index) ?? [];
    if (!list.includes(v.rule)) list.push(v.rule);
    rules.set(v.index, list);
  }
  const flat = (n: number | null) => values.map(() => n);
  return {
    x: values.map((_, i) => i + 1),
    values,
    center: flat(center),
    ucl: flat(ucl),
    lcl: flat(lcl),
    flagged: values.map((v, i) => (rules.has(i) ? v : null)),
    rules,
  };
}

/** The X̄ (or individuals) panel and the R (or moving-range) panel of a chart. */
export function chartPanels(c: SpcChart): { x: Panel; range: Panel } {
  const l = c.limits;
  return {
    x: panel(
      c.points.map((p) => p.value),
      l.center,
      l.ucl,
      l.lcl,
      c.violations.filter((v) => v.chart === 'x'),
    ),
    range: panel(
      c.points.map((p) => p.range),
      l.rangeCenter,
      l.rangeUcl,
      l.rangeLcl,
      c.violations.filter((v) => v.chart === 'range'),
    ),
  };
}

/** Significant digits that show the spread of the data: the limits' width decides the decimals. */
export function decimalsFor(c: Pick<SpcChart, 'limits' | 'points'>): number {
  const { ucl, lcl } = c.limits;
  let width = ucl !== null && lcl !== null ? ucl - lcl : 0;
  if (!(width > 0)) {
    const vs = c.points.map((p) => p.value);
    width = vs.length > 1 ? Math.max(...vs) - Math.min(...vs) : Math.abs(vs[0] ?? 1);
  }
  if (!(width > 0)) return 3;
  return Math.min(6, Math.max(0, 2 - Math.floor(Math.log10(width))));
}

export function fmt(n: number | null | undefined, decimals = 3): string {
  return n === null || n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(decimals);
}

export type Verdict = 'capable' | 'marginal' | 'not-capable' | 'unknown';

/** The usual reading of Cpk: ≥ 1.33 capable, 1.00–1.33 marginal, below 1.00 not capable. */
export function verdict(cpk: number | null): Verdict {
  if (cpk === null || !Number.isFinite(cpk)) return 'unknown';
  if (cpk >= 1.33) return 'capable';
  if (cpk >= 1) return 'marginal';
  return 'not-capable';
}

export const VERDICT_LABEL: Record<Verdict, string> = {
  capable: 'Capable',
  marginal: 'Marginal',
  'not-capable': 'Not capable',
  unknown: 'No Cpk',
};

export interface RigCapability {
  equipment: string;
  siteId: string;
  /** Worst first, by `compareWorst`. */
  characteristics: Characteristic[];
  /** The lowest Cpk of the rig's characteristics (null when none has one): the capability verdict's figure. */
  lowestCpk: number | null;
  /** The rig's worst characteristic by `compareWorst` (the one the page would open on for this rig). */
  worst: Characteristic | null;
  openViolations: number;
  /** Points flagged by a run rule on the characteristics' charts as they open (the charts show the same). */
  flaggedPoints: number;
}

/**
 * The one rule for "worst" on the SPC page (the characteristic it opens on, each rig's worst
 * characteristic, the order of the rigs): the most open alerts, then the most flagged points on
 * its chart, then the lowest Cpk (none last), then by rig and name.
 */
export function compareWorst(a: Characteristic, b: Characteristic): number {
  return (
    b.openViolations - a.openViolations ||
    b.flaggedPoints - a.flaggedPoints ||
    (a.cpk ?? Infinity) - (b.cpk ?? Infinity) ||
    a.equipment.localeCompare(b.equipment) ||
    a.characteristic.localeCompare(b.characteristic)
  );
}

/** Characteristics grouped by rig, each rig's worst first and the rigs in the order of their worst (`compareWorst`). */
export function byRig(items: readonly Characteristic[]): RigCapability[] {
  const groups = new Map<string, Characteristic[]>();
  for (const c of items) {
    const list = groups.get(c.equipment) ?? [];
    list.push(c);
    groups.set(c.equipment, list);
  }
  const rigs = [...groups.entries()].map(([equipment, list]): RigCapability => {
    const sorted = worstFirst(list);
    const cpks = list.map((c) => c.cpk).filter((c): c is number => c !== null);
    return {
      equipment,
      siteId: list[0]!.siteId,
      characteristics: sorted,
      lowestCpk: cpks.length > 0 ? Math.min(...cpks) : null,
      worst: sorted[0] ?? null,
      openViolations: list.reduce((n, c) => n + c.openViolations, 0),
      flaggedPoints: list.reduce((n, c) => n + c.flaggedPoints, 0),
    };
  });
  return rigs.sort((a, b) => compareWorst(a.worst!, b.worst!));
}

/** The characteristics most in need of a look first (`compareWorst`). The page opens on the first. */
export function worstFirst(items: readonly Characteristic[]): Characteristic[] {
  return [...items].sort(compareWorst);
}

export interface BaselineDraft {
  equipment: string;
  characteristic: string;
  chart: ChartKind;
  subgroupSize?: number;
  rules: RuleSet;
  from: string;
  to: string;
}

/**
 * The baseline a freeze sends for the chart on screen: its chart, subgroup size and rules, over
 * the period of the points shown, up to just after the last point. A point's time is its last
 * measurement's, so for X̄-R the period starts one subgroup-spacing before the first point (the
 * person can adjust both ends before freezing).
 */
export function baselineFromChart(c: SpcChart, rules: RuleSet): BaselineDraft | null {
  const first = c.points[0];
  const last = c.points.at(-1);
  if (!first || !last) return null;
  return {
    equipment: c.equipment,
    characteristic: c.characteristic,
    chart: c.chart,
    ...(c.chart === 'xbar-r' ? { subgroupSize: c.subgroupSize } : {}),
    rules,
    from: new Date(firstMeasurement(c)).toISOString(),
    to: new Date(Date.parse(last.at) + 1).toISOString(),
  };
}

function firstMeasurement(c: SpcChart): number {
  const t0 = Date.parse(c.points[0]!.at);
  if (c.chart === 'i-mr' || c.points.length < 2) return t0;
  const spacing = Date.parse(c.points[1]!.at) - t0;
  return spacing > 0 ? t0 - spacing + 1 : t0;
}

/** Enough points for a baseline (the cloud asks for 10; Montgomery advises 20–25). */
export const MIN_BASELINE_POINTS = 10;
