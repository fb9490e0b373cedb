import { describe, expect, it } from 'vitest';
import {
  baselineFromChart,
  byRig,
  worstFirst,
  chartPanels,
  decimalsFor,
  fmt,
  panelNames,
  verdict,
  type Characteristic,
  type SpcChart,
} from '../src/lib/spc.js';

const T0 = Date.parse('2026-11-20T06:00:00.000Z');
const iso = (min: number) => new Date(T0 + min * 60_000).toISOString();

function chart(over: Partial<SpcChart> = {}): SpcChart {
  return {
    equipment: 'CMM-02',
    characteristic: 'bore.diameter',
    siteId: 'plant-1',
    unit: 'mm',
    chart: 'xbar-r',
    subgroupSize: 5,
    rules: 'western-electric',
    // Subgroups of 5 measurements one minute apart: a point's time is its last measurement's.
    points: [
      { at: iso(4), value: 74.01, range: 0.038, n: 5 },
      { at: iso(9), value: 74.001, range: 0.019, n: 5 },
      { at: iso(14), value: 74.02, range: 0.036, n: 5 },
      { at: iso(19), value: 73.99, range: 0.022, n: 5 },
    ],
    limits: {
      center: 74.001,
      ucl: 74.014,
      lcl: 73.988,
      rangeCenter: 0.023,
      rangeUcl: 0.049,
      rangeLcl: 0,
      source: 'data',
    },
    baseline: null,
    capability: {
      lsl: 73.95,
      usl: 74.05,
      cp: 1.68,
      cpk: 1.66,
      pp: 1.6,
      ppk: 1.58,
      sigmaWithin: 0.0099,
      sigmaOverall: 0.0102,
      n: 20,
    },
    violations: [
      { index: 2, rule: 'WE1', chart: 'x', description: 'one point beyond the control limits' },
      { index: 2, rule: 'WE2', chart: 'x', description: '2 of 3 beyond 2σ' },
      { index: 2, rule: 'WE1', chart: 'x', description: 'again' },
      { index: 0, rule: 'WE1', chart: 'range', description: 'range beyond UCL' },
      { index: 99, rule: 'WE1', chart: 'x', description: 'out of range: ignored' },
    ],
    ...over,
  };
}

const ch = (
  equipment: string,
  characteristic: string,
  cpk: number | null,
  openViolations = 0,
  flaggedPoints = 0,
): Characteristic => ({
  siteId: 'plant-1',
  equipment,
  characteristic,
  unit: 'mm',
  nominal: 74,
  lsl: 73.95,
  usl: 74.05,
  n: 125,
  lastAt: iso(0),
  baseline: null,
  cpk,
  ppk: cpk,
  openViolations,
  view: { chart: 'xbar-r', subgroupSize: 5, rules: 'western-electric', points: 50 },
  flaggedPoints,
});

describe('control chart panels', () => {
  it('lays out the statistic with flat CL/UCL/LCL lines and marks each flagged point once per rule', () => {
    const { x, range } = chartPanels(chart());
    expect(x.x).toEqual([1, 2, 3, 4]);
    expect(x.values).toEqual([74.01, 74.001, 74.02, 73.99]);
    expect(x.center).toEqual([74.001, 74.001, 74.001, 74.001]);
    expect(x.ucl).toEqual([74.014, 74.014, 74.014, 74.014]);
    expect(x.lcl).toEqual([73.988, 73.988, 73.988, 73.988]);
    expect(x.flagged).toEqual([null, null, 74.02, null]);
    expect(x.rules.get(2)).toEqual(['WE1', 'WE2']);
    expect(x.rules.has(99)).toBe(false);
    expect(range.values).toEqual([0.038, 0.019, 0.036, 0.022]);
    expect(range.ucl[0]).toBe(0.049);
    expect(range.flagged).toEqual([0.038, null, null, null]);
  });

  it('keeps null limits (too few points) and the first moving range of I-MR as null', () => {
    const c = chart({
      chart: 'i-mr',
      subgroupSize: 1,
      points: [{ at: iso(0), value: 5, range: null, n: 1 }],
      limits: {
        center: null,
        ucl: null,
        lcl: null,
        rangeCenter: null,
        rangeUcl: null,
        rangeLcl: null,
        source: 'data',
      },
      violations: [],
    });
    const { x, range } = chartPanels(c);
    expect(x.ucl).toEqual([null]);
    expect(range.values).toEqual([null]);
    expect(panelNames('i-mr')).toEqual({ x: 'Individuals', range: 'Moving range' });
  });

  it('chooses decimals from the spread of the limits (or the data)', () => {
    expect(decimalsFor(chart())).toBe(4); // limits 0.026 wide
    expect(decimalsFor(chart({ limits: { ...chart().limits, ucl: 320, lcl: 280 } }))).toBe(1);
    expect(
      decimalsFor(
        chart({
          limits: { ...chart().limits, ucl: null, lcl: null },
          points: [{ at: iso(0), value: 1200, range: null, n: 1 }],
        }),
      ),
    ).toBe(0);
    expect(fmt(null)).toBe('—');
    expect(fmt(1.23456, 2)).toBe('1.23');
  });
});

describe('capability by rig', () => {
  it('groups characteristics by rig, worst first, rigs without a Cpk last', () => {
    const rigs = byRig([
      ch('RIG-01', 'fullLoad.deliveredQty', 1.8),
      ch('RIG-01', 'idle.deliveredQty', 0.9, 2),
      ch('RIG-02', 'fullLoad.deliveredQty', 1.2, 1),
      ch('RIG-03', 'x', null),
      ch('RIG-01', 'pilot.deliveredQty', null),
    ]);
    expect(
      rigs.map((r) => [r.equipment, r.lowestCpk, r.worst?.characteristic ?? null, r.openViolations]),
    ).toEqual([
      ['RIG-01', 0.9, 'idle.deliveredQty', 2],
      ['RIG-02', 1.2, 'fullLoad.deliveredQty', 1],
      ['RIG-03', null, 'x', 0],
    ]);
    expect(rigs[0]!.characteristics.map((c) => c.characteristic)).toEqual([
      'idle.deliveredQty',
      'fullLoad.deliveredQty',
      'pilot.deliveredQty',
    ]);
  });

  it('opens on the worst characteristic, not the alphabetically first', () => {
    const items = [
      ch('RIG-01', 'emission.backLeak', 2.1),
      ch('RIG-01', 'fullLoad.deliveredQty', 0.8),
      ch('RIG-02', 'idle.deliveredQty', 1.1, 3),
      ch('RIG-02', 'pilot.deliveredQty', null),
    ];
    expect(worstFirst(items).map((c) => `${c.equipment} ${c.characteristic}`)).toEqual([
      'RIG-02 idle.deliveredQty',
      'RIG-01 fullLoad.deliveredQty',
      'RIG-01 emission.backLeak',
      'RIG-02 pilot.deliveredQty',
    ]);
  });

  it('puts a characteristic whose chart flags points before a merely low Cpk', () => {
    const items = [ch('RIG-01', 'a', 0.9), ch('RIG-01', 'b', 1.5, 0, 2), ch('RIG-02', 'c', 2.0, 1)];
    expect(worstFirst(items).map((c) => c.characteristic)).toEqual(['c', 'b', 'a']);
    expect(byRig(items).map((r) => [r.equipment, r.openViolations, r.flaggedPoints])).toEqual([
      ['RIG-02', 1, 0],
      ['RIG-01', 0, 2],
    ]);
  });

  it('has one meaning of worst: the first rig’s worst characteristic is the one the page opens on', () => {
    const items = [
      // RIG-01 has the lowest Cpk, but RIG-02's characteristic has an open alert: it is the worst.
      ch('RIG-01', 'a', 0.7),
      ch('RIG-01', 'b', 1.5, 0, 3),
      ch('RIG-02', 'c', 2.0, 1),
      ch('RIG-03', 'd', 0.5),
    ];
    const rigs = byRig(items);
    expect(rigs[0]!.worst).toBe(worstFirst(items)[0]);
    expect(rigs.map((r) => [r.equipment, r.worst?.characteristic, r.lowestCpk])).toEqual([
      ['RIG-02', 'c', 2.0],
      ['RIG-01', 'b', 0.7],
      ['RIG-03', 'd', 0.5],
    ]);
    // Each rig's worst is the first of its own characteristics by the same rule.
    for (const r of rigs) expect(r.worst).toBe(worstFirst(r.characteristics)[0]);
  });

  it('reads Cpk the usual way', () => {
    expect(verdict(1.33)).toBe('capable');
    expect(verdict(1.2)).toBe('marginal');
    expect(verdict(0.99)).toBe('not-capable');
    expect(verdict(null)).toBe('unknown');
  });
});

describe('freezing the limits on screen', () => {
  it('covers every measurement of the X̄-R points shown: from one subgroup before the first point to just after the last', () => {
    const b = baselineFromChart(chart(), 'nelson')!;
    expect(b).toEqual({
      equipment: 'CMM-02',
      characteristic: 'bore.diameter',
      chart: 'xbar-r',
      subgroupSize: 5,
      rules: 'nelson',
      // The first subgroup's measurements are at minutes 0..4; the point before ended at minute −1.
      from: new Date(T0 - 60_000 + 1).toISOString(),
      to: new Date(T0 + 19 * 60_000 + 1).toISOString(),
    });
  });

  it('starts at the first individual for I-MR, and has nothing to freeze without points', () => {
    const b = baselineFromChart(chart({ chart: 'i-mr', subgroupSize: 1 }), 'western-electric')!;
    expect(b.from).toBe(iso(4));
    expect(b).not.toHaveProperty('subgroupSize');
    expect(baselineFromChart(chart({ points: [] }), 'western-electric')).toBeNull();
  });
});
