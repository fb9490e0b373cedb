import { describe, expect, it } from 'vitest';
import {
  capability,
  chartPoints,
  evaluateRules,
  FACTORS,
  phaseOne,
  RULE_SETS,
  type ControlLimits,
  type RuleId,
  type RuleSet,
} from '../src/spc/spc.math.js';
import { LOAN_COSTS, PISTON_RINGS } from './helpers/spc-data.js';

describe('control chart factors', () => {
  it('are the published table values (Montgomery App. VI; E2 = 3/d2)', () => {
    expect(FACTORS[2]).toEqual({ A2: 1.88, D3: 0, D4: 3.267, d2: 1.128, E2: 2.66 });
    expect(FACTORS[5]).toEqual({ A2: 0.577, D3: 0, D4: 2.114, d2: 2.326, E2: 1.29 });
    expect(FACTORS[10]).toEqual({ A2: 0.308, D3: 0.223, D4: 1.777, d2: 3.078, E2: 0.975 });
    for (let n = 2; n <= 10; n++) {
      const f = FACTORS[n]!;
      // The table's own consistency: E2 = 3/d2 and A2 = 3/(d2·√n), each to the table's 3 decimals.
      expect(f.E2).toBeCloseTo(3 / f.d2, 2);
      expect(f.A2).toBeCloseTo(3 / (f.d2 * Math.sqrt(n)), 2);
      // D3 = 1 − 3d3/d2 and D4 = 1 + 3d3/d2, D3 cut to 0 below n = 7.
      if (n >= 7) expect(f.D3 + f.D4).toBeCloseTo(2, 2);
    }
  });
});

describe('X̄-R chart: Montgomery piston rings', () => {
  const values = PISTON_RINGS.flat();
  const p = phaseOne(values, 'xbar-r', 5)!;

  it('computes the subgroup means and ranges of Table 6.3', () => {
    const pts = chartPoints(values, 'xbar-r', 5);
    expect(pts).toHaveLength(25);
    expect(pts[0]!.value).toBeCloseTo(74.0102, 4);
    expect(pts[0]!.range).toBeCloseTo(0.038, 6);
    expect(pts[13]!.range).toBeCloseTo(0.039, 6);
    expect(pts.reduce((a, b) => a + b.range!, 0)).toBeCloseTo(0.581, 6);
  });

  it('reproduces the textbook limits (to the 3 decimals the book rounds its intermediates to)', () => {
    const within = (actual: number, book: number) =>
      expect(Math.abs(actual - book)).toBeLessThanOrEqual(0.001);
    within(p.limits.center, 74.001);
    within(p.limits.ucl, 74.014);
    within(p.limits.lcl, 73.988);
    within(p.limits.rangeCenter, 0.023);
    within(p.limits.rangeUcl, 0.049);
    expect(p.limits.rangeLcl).toBe(0);
  });

  it('matches hand computation exactly: X̿ ± A2·R̄, D4·R̄', () => {
    expect(p.limits.center).toBeCloseTo(74.001176, 6);
    expect(p.limits.rangeCenter).toBeCloseTo(0.02324, 6);
    expect(p.limits.ucl).toBeCloseTo(74.001176 + 0.577 * 0.02324, 6);
    expect(p.limits.lcl).toBeCloseTo(74.001176 - 0.577 * 0.02324, 6);
    expect(p.limits.rangeUcl).toBeCloseTo(2.114 * 0.02324, 6);
    expect(p.sigmaWithin).toBeCloseTo(0.02324 / 2.326, 7);
    expect(p.points).toBe(25);
    expect(p.measurements).toBe(125);
  });

  it('finds no rule violation in the in-control preliminary samples (as the book concludes)', () => {
    const pts = chartPoints(values, 'xbar-r', 5);
    expect(evaluateRules(pts, p.limits, 'western-electric')).toEqual([]);
  });

  it('gives the capability of Example 8.x: Cp ≈ 1.68 with specs 74 ± 0.05', () => {
    const c = capability(values, p.sigmaWithin, 73.95, 74.05);
    // The book: σ̂ = R̄/d2 = 0.0099, Cp = 0.10 / (6 · 0.0099) = 1.68 (rounded intermediates).
    expect(Math.abs(c.cp! - 1.68)).toBeLessThan(0.015);
    expect(c.cp).toBeCloseTo(0.1 / (6 * (0.02324 / 2.326)), 6);
    const mu = values.reduce((a, b) => a + b, 0) / values.length;
    expect(c.cpk).toBeCloseTo(Math.min(74.05 - mu, mu - 73.95) / (3 * p.sigmaWithin), 9);
  });
});

describe('I-MR chart: Montgomery loan processing costs', () => {
  const p = phaseOne(LOAN_COSTS, 'i-mr', 1)!;

  it('reproduces the textbook limits to 3 decimals', () => {
    expect(p.limits.center).toBeCloseTo(300.5, 3);
    expect(p.limits.rangeCenter).toBeCloseTo(148 / 19, 6); // MR̄ = 7.789…
    expect(p.limits.ucl).toBeCloseTo(321.22, 3);
    expect(p.limits.lcl).toBeCloseTo(279.78, 3);
    expect(p.limits.rangeUcl).toBeCloseTo(3.267 * (148 / 19), 6); // 25.448
    expect(Math.abs(p.limits.rangeUcl - 25.45)).toBeLessThan(0.005);
    expect(p.limits.rangeLcl).toBe(0);
    expect(p.sigmaWithin).toBeCloseTo(148 / 19 / 1.128, 9);
  });

  it('plots the first moving range as null and the rest as |xi − xi−1|', () => {
    const pts = chartPoints(LOAN_COSTS, 'i-mr', 1);
    expect(pts[0]).toEqual({ value: 310, range: null, n: 1 });
    expect(pts[1]).toEqual({ value: 288, range: 22, n: 1 });
  });
});

describe('capability', () => {
  // Hand computed: values 9, 10, 11, 10 (mean 10, sample sd √(2/3) = 0.816497), specs 7..13.
  const values = [9, 10, 11, 10];
  const sdOverall = Math.sqrt(2 / 3);

  it('Cp/Cpk from the within sigma, Pp/Ppk from the overall sample sigma', () => {
    const c = capability(values, 0.5, 7, 13);
    expect(c.cp).toBeCloseTo(6 / 3, 9); // (13 − 7)/(6 · 0.5)
    expect(c.cpk).toBeCloseTo(3 / 1.5, 9); // min(3, 3)/(3 · 0.5)
    expect(c.sigmaOverall).toBeCloseTo(sdOverall, 9);
    expect(c.pp).toBeCloseTo(6 / (6 * sdOverall), 9); // 1.224745
    expect(c.ppk).toBeCloseTo(3 / (3 * sdOverall), 9);
    expect(c.n).toBe(4);
  });

  it('an off-centre process: Cpk takes the nearer limit', () => {
    const c = capability(values, 0.5, 8, 13);
    expect(c.cp).toBeCloseTo(5 / 3, 9);
    expect(c.cpk).toBeCloseTo(2 / 1.5, 9);
  });

  it('one-sided specs give only Cpk/Ppk; none, or no spread, give nulls', () => {
    const upper = capability(values, 0.5, null, 12);
    expect(upper.cp).toBeNull();
    expect(upper.cpk).toBeCloseTo(2 / 1.5, 9);
    expect(upper.ppk).toBeCloseTo(2 / (3 * sdOverall), 9);
    const none = capability(values, 0.5, null, null);
    expect([none.cp, none.cpk, none.pp, none.ppk]).toEqual([null, null, null, null]);
    const flat = capability([5, 5, 5], 0, 4, 6);
    expect([flat.cp, flat.cpk, flat.pp, flat.ppk]).toEqual([null, null, null, null]);
    expect(capability([], null, 4, 6).n).toBe(0);
  });
});

describe('run rules', () => {
  // Center 0, σ 1: zones at ±1, ±2, limits at ±3. Wide range limits: only the x rules speak.
  const L: ControlLimits = { center: 0, ucl: 3, lcl: -3, rangeCenter: 1, rangeUcl: 100, rangeLcl: 0 };
  const pts = (xs: number[]) => xs.map((value) => ({ value, range: null }));
  const fired = (xs: number[], set: RuleSet) =>
    evaluateRules(pts(xs), L, set).map((v) => `${v.rule}@${v.index}`);
  const alt = (n: number, a: number, b: number) => Array.from({ length: n }, (_, i) => (i % 2 ? b : a));
  const pairs = (n: number, a: number, b: number) => Array.from({ length: n }, (_, i) => (i % 4 < 2 ? a : b));

  /** Per rule: a sequence that fires exactly that rule at its last point, and a near miss that fires none. */
  const CASES: Record<RuleId, { hit: number[]; miss: number[] }> = {
    WE1: { hit: [0.5, -0.5, 0.5, 3.5], miss: [0.5, -0.5, 0.5, 3] },
    WE2: { hit: [0.5, 2.5, 0.5, 2.5], miss: [0.5, 2.5, 0.5, -2.5] },
    WE3: { hit: [0.5, 1.5, 1.5, 0.5, 1.5, 1.5], miss: [0.5, 1.5, 1.5, 0.5, 1.5, -1.5] },
    WE4: { hit: alt(8, 0.5, 1.5), miss: [...alt(7, 0.5, 1.5), -0.5] },
    N1: { hit: [0.5, -0.5, 0.5, -3.2], miss: [0.5, -0.5, 0.5, -2.9] },
    N2: { hit: alt(9, 0.5, 1.5), miss: [...alt(8, 0.5, 1.5), 0] },
    N3: { hit: [-1.25, -0.75, -0.25, 0.25, 0.75, 1.25], miss: [-1.25, -0.75, -0.25, 0.25, 0.75, 0.75] },
    N4: { hit: alt(14, 0.2, -0.2), miss: [...alt(13, 0.2, -0.2), 0.2] },
    N5: { hit: [0.5, 2.5, 0.5, 2.5], miss: [0.5, 2.5, 0.5, 2] },
    N6: { hit: [0.5, 1.5, 1.5, 0.5, 1.5, 1.5], miss: [0.5, 1.5, 1.5, 0.5, 1.5, 1] },
    N7: { hit: pairs(15, 0.5, -0.5), miss: [...pairs(14, 0.5, -0.5), 1.2] },
    N8: { hit: pairs(8, 1.5, -1.5), miss: [...pairs(7, 1.5, -1.5), 0.9] },
  };

  for (const set of ['western-electric', 'nelson'] as const) {
    for (const rule of RULE_SETS[set]) {
      it(`${set} ${rule}: fires exactly on its pattern, not on the near miss`, () => {
        const c = CASES[rule];
        expect(fired(c.hit, set)).toEqual([`${rule}@${c.hit.length - 1}`]);
        expect(fired(c.miss, set)).toEqual([]);
      });
    }
  }

  it('names the description and the chart of each violation', () => {
    const [v] = evaluateRules(pts([0, 4]), L, 'nelson');
    expect(v).toEqual({
      index: 1,
      rule: 'N1',
      chart: 'x',
      description: 'one point beyond the 3σ control limits',
    });
  });

  it('checks ranges against the range limits (rule 1 of the set, chart "range")', () => {
    const points = [
      { value: 0, range: 1 },
      { value: 0, range: 5 },
      { value: 0.1, range: null },
    ];
    const limits = { ...L, rangeUcl: 4, rangeLcl: 0.5 };
    expect(evaluateRules(points, limits, 'nelson')).toEqual([
      { index: 1, rule: 'N1', chart: 'range', description: 'one point beyond the 3σ control limits' },
    ]);
    expect(evaluateRules([{ value: 0, range: 0.2 }], limits, 'western-electric')).toEqual([
      { index: 0, rule: 'WE1', chart: 'range', description: 'one point beyond the 3σ control limits' },
    ]);
  });

  it('flags every point of a run past its length (the alerting layer raises once per run)', () => {
    expect(fired(Array(10).fill(0.5), 'western-electric')).toEqual(['WE4@7', 'WE4@8', 'WE4@9']);
    expect(fired(Array(10).fill(0.5), 'nelson')).toEqual(['N2@8', 'N2@9']);
  });

  it('a point on the centre line breaks a same-side run', () => {
    expect(fired([...Array(4).fill(0.5), 0, ...Array(4).fill(0.5)], 'western-electric')).toEqual([]);
  });
});
