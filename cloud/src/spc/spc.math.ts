/**
 * Statistical process control, pure: no I/O, no clock. Shewhart X̄-R and I-MR charts, process
 * capability (Cp/Cpk from the within-subgroup sigma, Pp/Ppk from the overall sample sigma) and
 * the Western Electric and Nelson run rules. SPC.md states the conventions; keep both in step.
 *
 * References for the constants and formulas:
 * - D. C. Montgomery, Introduction to Statistical Quality Control, 6th ed. (Wiley, 2009),
 *   Appendix Table VI "Factors for constructing variables control charts" (A2, D3, D4, d2) and
 *   §6.4 (individuals and moving-range chart, MR of span 2: σ̂ = MR̄/d2 with d2 = 1.128).
 * - ASTM E2587-16, Standard Practice for Use of Control Charts in Statistical Process Control,
 *   Table 3 (the same factors; E2 = 3/d2).
 * - Western Electric Co., Statistical Quality Control Handbook (1956), tests 1–4.
 * - L. S. Nelson, "The Shewhart Control Chart — Tests for Special Causes", Journal of Quality
 *   Technology 16(4), 1984, tests 1–8.
 */

export type ChartKind = 'xbar-r' | 'i-mr';
export type RuleSet = 'western-electric' | 'nelson';
export type ChartSide = 'x' | 'range';

export const MIN_SUBGROUP = 2;
export const MAX_SUBGROUP = 10;

/**
 * Control chart factors for subgroup size n = 2..10 (Montgomery App. VI; ASTM E2587 Table 3):
 * A2 (X̄ limits from R̄), D3/D4 (R limits), d2 (E[R]/σ), E2 = 3/d2 (individuals limits from the
 * mean moving range of span n).
 */
export const FACTORS: Readonly<
  Record<number, { A2: number; D3: number; D4: number; d2: number; E2: number }>
> = {
  2: { A2: 1.88, D3: 0, D4: 3.267, d2: 1.128, E2: 2.66 },
  3: { A2: 1.023, D3: 0, D4: 2.574, d2: 1.693, E2: 1.772 },
  4: { A2: 0.729, D3: 0, D4: 2.282, d2: 2.059, E2: 1.457 },
  5: { A2: 0.577, D3: 0, D4: 2.114, d2: 2.326, E2: 1.29 },
  6: { A2: 0.483, D3: 0, D4: 2.004, d2: 2.534, E2: 1.184 },
  7: { A2: 0.419, D3: 0.076, D4: 1.924, d2: 2.704, E2: 1.109 },
  8: { A2: 0.373, D3: 0.136, D4: 1.864, d2: 2.847, E2: 1.054 },
  9: { A2: 0.337, D3: 0.184, D4: 1.816, d2: 2.97, E2: 1.01 },
  10: { A2: 0.308, D3: 0.223, D4: 1.777, d2: 3.078, E2: 0.975 },
};

export function factors(n: number) {
  const f = FACTORS[n];
  if (!f) throw new RangeError(`subgroup size must be ${MIN_SUBGROUP}..${MAX_SUBGROUP}, not ${n}`);
  return f;
}

/** One plotted point: X̄ (or the individual value) and R (or the moving range; null for the first). */
export interface ChartPoint {
  value: number;
  range: number | null;
  /** Measurements in the point. */
  n: number;
}

export interface ControlLimits {
  center: number;
  ucl: number;
  lcl: number;
  rangeCenter: number;
  rangeUcl: number;
  rangeLcl: number;
}

/** What a set of measurements says about the process: limits and the sigmas behind them. */
export interface PhaseOne {
  limits: ControlLimits;
  /** σ̂ within subgroups: R̄/d2 (X̄-R) or MR̄/1.128 (I-MR). */
  sigmaWithin: number;
  /** Sample standard deviation of all measurements (n − 1). */
  sigmaOverall: number | null;
  mean: number;
  /** Points (subgroups, or individuals) the limits come from. */
  points: number;
  measurements: number;
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
export const mean = (xs: readonly number[]) => sum(xs) / xs.length;

/** Sample standard deviation (n − 1); null for fewer than two values. */
export function sampleSd(xs: readonly number[]): number | null {
  if (xs.length < 2) return null;
  const m = mean(xs);
  return Math.sqrt(sum(xs.map((x) => (x - m) ** 2)) / (xs.length - 1));
}

/**
 * Consecutive subgroups of `n` in the order given; a trailing incomplete subgroup is dropped
 * (a point is plotted once its subgroup is complete).
 */
export function subgroups<T>(items: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i + n <= items.length; i += n) out.push(items.slice(i, i + n));
  return out;
}

/** The points of a chart: X̄ and R per subgroup, or each value and its moving range. */
export function chartPoints(values: readonly number[], chart: ChartKind, n: number): ChartPoint[] {
  if (chart === 'i-mr') {
    return values.map((v, i) => ({ value: v, range: i === 0 ? null : Math.abs(v - values[i - 1]!), n: 1 }));
  }
  factors(n);
  return subgroups(values, n).map((g) => ({
    value: mean(g),
    range: Math.max(...g) - Math.min(...g),
    n: g.length,
  }));
}

/**
 * Trial control limits from the data (Montgomery §6.2.1, §6.4): X̄-R: CL = X̿, X̄ limits
 * X̿ ± A2·R̄, R limits D3·R̄ and D4·R̄. I-MR: CL = x̄, limits x̄ ± E2·MR̄ (E2 = 2.660 for span 2),
 * MR limits 0 and D4·MR̄ (3.267). Null when there are too few points (two subgroups, or two
 * individuals).
 */
export function phaseOne(values: readonly number[], chart: ChartKind, n: number): PhaseOne | null {
  const pts = chartPoints(values, chart, chart === 'i-mr' ? 1 : n);
  const ranges = pts.map((p) => p.range).filter((r): r is number => r !== null);
  if (pts.length < 2 || ranges.length < 1) return null;
  const f = factors(chart === 'i-mr' ? 2 : n);
  const center = mean(pts.map((p) => p.value));
  const rBar = mean(ranges);
  const spread = chart === 'i-mr' ? f.E2 * rBar : f.A2 * rBar;
  const used = chart === 'i-mr' ? values.length : pts.length * n;
  return {
    limits: {
      center,
      ucl: center + spread,
      lcl: center - spread,
      rangeCenter: rBar,
      rangeUcl: f.D4 * rBar,
      rangeLcl: f.D3 * rBar,
    },
    sigmaWithin: rBar / f.d2,
    sigmaOverall: sampleSd(values.slice(0, used)),
    mean: center,
    points: pts.length,
    measurements: used,
  };
}

export interface Capability {
  lsl: number | null;
  usl: number | null;
  cp: number | null;
  cpk: number | null;
  pp: number | null;
  ppk: number | null;
  sigmaWithin: number | null;
  sigmaOverall: number | null;
  n: number;
}

function indices(m: number, sigma: number | null, lsl: number | null, usl: number | null) {
  if (sigma === null || !(sigma > 0) || !Number.isFinite(sigma)) return { p: null, pk: null };
  const p = lsl !== null && usl !== null ? (usl - lsl) / (6 * sigma) : null;
  const sides = [
    ...(usl !== null ? [(usl - m) / (3 * sigma)] : []),
    ...(lsl !== null ? [(m - lsl) / (3 * sigma)] : []),
  ];
  return { p, pk: sides.length ? Math.min(...sides) : null };
}

/**
 * Process capability (Montgomery §8.3; AIAG SPC manual 2nd ed. §4): Cp = (USL − LSL)/6σw,
 * Cpk = min(USL − μ, μ − LSL)/3σw with σw the within-subgroup sigma; Pp and Ppk the same with the
 * overall sample sigma. With one specification limit only Cpk/Ppk (the one-sided index) exist;
 * with none, or a sigma of 0 or unknown, the figures are null.
 */
export function capability(
  values: readonly number[],
  sigmaWithin: number | null,
  lsl: number | null,
  usl: number | null,
): Capability {
  const sigmaOverall = sampleSd(values);
  if (values.length === 0)
    return { lsl, usl, cp: null, cpk: null, pp: null, ppk: null, sigmaWithin, sigmaOverall, n: 0 };
  const m = mean(values);
  const w = indices(m, sigmaWithin, lsl, usl);
  const o = indices(m, sigmaOverall, lsl, usl);
  return { lsl, usl, cp: w.p, cpk: w.pk, pp: o.p, ppk: o.pk, sigmaWithin, sigmaOverall, n: values.length };
}

// ---------------------------------------------------------------------------------------------
// Run rules.

export type RuleId = 'WE1' | 'WE2' | 'WE3' | 'WE4' | 'N1' | 'N2' | 'N3' | 'N4' | 'N5' | 'N6' | 'N7' | 'N8';

export interface Violation {
  /** Index of the point that completes the pattern (0-based, in the points given). */
  index: number;
  rule: RuleId;
  chart: ChartSide;
  description: string;
}

export const RULE_DESCRIPTIONS: Readonly<Record<RuleId, string>> = {
  WE1: 'one point beyond the 3σ control limits',
  WE2: '2 of 3 consecutive points beyond 2σ on the same side',
  WE3: '4 of 5 consecutive points beyond 1σ on the same side',
  WE4: '8 consecutive points on the same side of the center line',
  N1: 'one point beyond the 3σ control limits',
  N2: '9 points in a row on the same side of the center line',
  N3: '6 points in a row steadily increasing or decreasing',
  N4: '14 points in a row alternating up and down',
  N5: '2 of 3 consecutive points beyond 2σ on the same side',
  N6: '4 of 5 consecutive points beyond 1σ on the same side',
  N7: '15 points in a row within 1σ of the center line (either side)',
  N8: '8 points in a row beyond 1σ of the center line, on both sides',
};

/** The rules of each set, as the set's own numbering. */
export const RULE_SETS: Readonly<Record<RuleSet, readonly RuleId[]>> = {
  'western-electric': ['WE1', 'WE2', 'WE3', 'WE4'],
  nelson: ['N1', 'N2', 'N3', 'N4', 'N5', 'N6', 'N7', 'N8'],
};

/** The rule that fires on a point beyond the control limits (the one rule used on range charts). */
const BEYOND: Record<RuleSet, RuleId> = { 'western-electric': 'WE1', nelson: 'N1' };

/** Points in a row with `test` true, ending at each index. */
function runLengths(n: number, test: (i: number) => boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(test(i) ? (i > 0 ? out[i - 1]! : 0) + 1 : 0);
  return out;
}

/**
 * Evaluates a rule set on the X̄ (or individuals) points and rule 1 on the range points.
 * Zones are in units of σ of the plotted statistic, (UCL − CL)/3. Conventions (SPC.md):
 * "beyond" is strict (a point on a limit or zone line is inside); a point on the center line
 * is on neither side and breaks a same-side run; equal neighbours break a trend or alternation;
 * for "k of m" rules the point flagged completes the pattern and is itself in the zone. Every
 * point at which a pattern holds is flagged, so a long run flags each point past its length.
 */
export function evaluateRules(
  points: readonly { value: number; range: number | null }[],
  limits: ControlLimits,
  set: RuleSet,
): Violation[] {
  const out: Violation[] = [];
  const sigma = (limits.ucl - limits.center) / 3;
  const x = points.map((p) => p.value);
  const n = x.length;
  const z = x.map((v) => (sigma > 0 ? (v - limits.center) / sigma : 0));
  const side = x.map((v) => Math.sign(v - limits.center));
  const rules = new Set(RULE_SETS[set]);
  const flag = (index: number, rule: RuleId, chart: ChartSide = 'x') =>
    out.push({ index, rule, chart, description: RULE_DESCRIPTIONS[rule] });

  const above = runLengths(n, (i) => side[i] === 1);
  const below = runLengths(n, (i) => side[i] === -1);
  const up = runLengths(n, (i) => i > 0 && x[i]! > x[i - 1]!);
  const down = runLengths(n, (i) => i > 0 && x[i]! < x[i - 1]!);
  const alternating = runLengths(
    n,
    (i) => i > 1 && Math.sign(x[i]! - x[i - 1]!) * Math.sign(x[i - 1]! - x[i - 2]!) === -1,
  );
  const inC = runLengths(n, (i) => Math.abs(z[i]!) < 1 && sigma > 0);
  const outC = runLengths(n, (i) => Math.abs(z[i]!) > 1 && sigma > 0);
  const kOfM = (i: number, k: number, m: number, zone: number) => {
    if (i + 1 < m || sigma <= 0) return false;
    for (const s of [1, -1]) {
      if (s * z[i]! <= zone) continue;
      let c = 0;
      for (let j = i - m + 1; j <= i; j++) if (s * z[j]! > zone) c += 1;
      if (c >= k) return true;
    }
    return false;
  };

  for (let i = 0; i < n; i++) {
    const beyond = x[i]! > limits.ucl || x[i]! < limits.lcl;
    for (const rule of rules) {
      let hit = false;
      switch (rule) {
        case 'WE1':
        case 'N1':
          hit = beyond;
          break;
        case 'WE2':
        case 'N5':
          hit = kOfM(i, 2, 3, 2);
          break;
        case 'WE3':
        case 'N6':
          hit = kOfM(i, 4, 5, 1);
          break;
        case 'WE4':
          hit = above[i]! >= 8 || below[i]! >= 8;
          break;
        case 'N2':
          hit = above[i]! >= 9 || below[i]! >= 9;
          break;
        case 'N3':
          // Six points in a row: five consecutive increases (or decreases).
          hit = up[i]! >= 5 || down[i]! >= 5;
          break;
        case 'N4':
          // Fourteen points in a row: twelve consecutive sign changes of the differences.
          hit = alternating[i]! >= 12;
          break;
        case 'N7':
          hit = inC[i]! >= 15;
          break;
        case 'N8':
          if (outC[i]! >= 8) {
            const win = side.slice(i - 7, i + 1);
            hit = win.includes(1) && win.includes(-1);
          }
          break;
      }
      if (hit) flag(i, rule);
    }
  }
  const r1 = BEYOND[set];
  points.forEach((p, i) => {
    if (p.range !== null && (p.range > limits.rangeUcl || p.range < limits.rangeLcl)) flag(i, r1, 'range');
  });
  return out.sort((a, b) => a.index - b.index || (a.chart < b.chart ? 1 : a.chart > b.chart ? -1 : 0));
}
