import { parseStationMessage, stationTopic } from '@rigtrace/protocols/mqtt';
import { describe, expect, it } from 'vitest';
import {
  CYCLE_REPORT_PARTS,
  INJECTOR_CHARACTERISTICS,
  InspectionStationModel,
  type InspectionOutput,
  type StationOutput,
  type UsageOutput,
} from './station-model.js';

const GAUGES = ['GA-0101', 'GA-0102', 'GA-0103', 'GA-0104'];
const model = (over: Partial<ConstructorParameters<typeof InspectionStationModel>[0]> = {}) =>
  new InspectionStationModel({
    seed: 7,
    asset: 'STN-01',
    gauges: GAUGES,
    partsPerShift: 40,
    driftStepPct: 15,
    ...over,
  });

function run(m: InspectionStationModel, parts: number, t0 = 0, stepMs = 3000): StationOutput[] {
  const out: StationOutput[] = [];
  for (let i = 0; i < parts; i++) out.push(...m.nextPart(t0 + i * stepMs));
  return out;
}
const inspections = (o: StationOutput[]): InspectionOutput[] =>
  o.filter((x): x is InspectionOutput => x.kind === 'inspection');
const usages = (o: StationOutput[]): UsageOutput[] => o.filter((x): x is UsageOutput => x.kind === 'usage');

describe('InspectionStationModel', () => {
  it('replays exactly from its seed, and another seed gives other parts', () => {
    expect(run(model(), 60)).toEqual(run(model(), 60));
    const a = inspections(run(model(), 5)).map((p) => p.payload.characteristics[0]!.measured);
    const b = inspections(run(model({ seed: 8 }), 5)).map((p) => p.payload.characteristics[0]!.measured);
    expect(a).not.toEqual(b);
  });

  it('measures realistic values: centred, spread about a third of the half tolerance, rounded, few failures', () => {
    const parts = inspections(run(model({ partsPerShift: 10_000 }), 3000));
    expect(parts).toHaveLength(3000);
    INJECTOR_CHARACTERISTICS.forEach((spec, i) => {
      const values = parts.map((p) => p.payload.characteristics[i]!.measured);
      const half = (spec.usl - spec.lsl) / 2;
      const centre = (spec.usl + spec.lsl) / 2;
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1));
      expect(Math.abs(mean - centre) / half, spec.name).toBeLessThan(0.1);
      expect(sd / half, spec.name).toBeGreaterThan(0.2);
      expect(sd / half, spec.name).toBeLessThan(0.45);
      const outside = values.filter((v) => v < spec.lsl || v > spec.usl).length / values.length;
      expect(outside, spec.name).toBeLessThan(0.01);
      for (const v of values) expect(Number(v.toFixed(spec.decimals))).toBe(v);
    });
    // serials are unique and consecutive, work orders change every 25 parts
    const serials = parts.map((p) => p.payload.partSerial);
    expect(new Set(serials).size).toBe(serials.length);
    expect(new Set(parts.slice(0, 25).map((p) => p.payload.workOrder)).size).toBe(1);
    expect(parts[25]!.payload.workOrder).not.toBe(parts[24]!.payload.workOrder);
  });

  it('names the gauge of each characteristic by its slot; with fewer gauges they share', () => {
    const [first] = inspections(run(model(), 1));
    expect(first!.payload.characteristics.map((c) => c.gauge)).toEqual([
      'GA-0101',
      'GA-0102',
      'GA-0103',
      'GA-0103',
      'GA-0104',
      'GA-0104',
    ]);
    const [shared] = inspections(run(model({ gauges: ['GA-1', 'GA-2'] }), 1));
    expect(shared!.payload.characteristics.map((c) => c.gauge)).toEqual([
      'GA-1',
      'GA-2',
      'GA-1',
      'GA-1',
      'GA-2',
      'GA-2',
    ]);
  });

  it('every payload is accepted by parseStationMessage (the edge side of the contract)', () => {
    const m = model({ partsPerShift: 12 });
    for (const o of run(m, 30)) {
      const payload = Buffer.from(
        JSON.stringify({ id: 'x-1', observedAt: '2026-11-23T05:00:00Z', ...o.payload }),
      );
      const r = parseStationMessage(stationTopic('plant-1', o.equipment, o.kind), payload);
      expect(r.ok, JSON.stringify(r)).toBe(true);
    }
  });

  it('drift: the first gauge reads higher with every part until its characteristic fails, recalibration ends it', () => {
    const m = model();
    run(m, 5);
    m.setDrift(true);
    const drifting = inspections(run(m, 12));
    const bore = drifting.map((p) => p.payload.characteristics[0]!);
    // from about the 7th part on, the bore reads above its USL every time (15 % of the half tolerance per part)
    for (const c of bore.slice(8)) expect(c.measured).toBeGreaterThan(c.usl);
    expect(bore[0]!.measured).toBeLessThan(bore[0]!.usl);
    // characteristics of the other gauges stay in tolerance
    for (const p of drifting)
      for (const c of p.payload.characteristics.slice(1))
        expect(c.measured >= c.lsl && c.measured <= c.usl).toBe(true);
    expect(m.driftPct).toBeCloseTo(180);
    m.setDrift(false);
    const after = inspections(run(m, 5)).map((p) => p.payload.characteristics[0]!);
    for (const c of after) expect(c.measured).toBeLessThanOrEqual(c.usl);
  });

  it('shifts: start, cycle reports of the station and each gauge, stop with the duration, next operator', () => {
    const m = model({ partsPerShift: 12 });
    const out = run(m, 13, 1_000_000, 3000);
    const u = usages(out);
    expect(out[0]).toMatchObject({
      kind: 'usage',
      equipment: 'STN-01',
      payload: { event: 'start', operator: expect.stringMatching(/^OP-\d{4}$/u) as string },
    });
    const afterTen = u.filter((x) => x.payload.event === 'cycle').slice(0, 5);
    expect(afterTen.map((x) => [x.equipment, x.payload.cycles])).toEqual([
      ['STN-01', CYCLE_REPORT_PARTS],
      ['GA-0101', 10],
      ['GA-0102', 10],
      ['GA-0103', 20],
      ['GA-0104', 20],
    ]);
    const stop = u.find((x) => x.payload.event === 'stop');
    expect(stop?.payload).toMatchObject({ event: 'stop', durationS: 33 });
    const starts = u.filter((x) => x.payload.event === 'start');
    expect(starts).toHaveLength(2);
    expect(starts[1]!.payload.operator).not.toBe(starts[0]!.payload.operator);
    // parts 11 and 12 were reported before the stop
    const beforeStop = u
      .slice(0, u.indexOf(stop!))
      .filter((x) => x.equipment === 'STN-01' && x.payload.event === 'cycle');
    expect(beforeStop.map((x) => x.payload.cycles)).toEqual([10, 2]);
    expect(usages(m.shutdown(2_000_000)).map((x) => x.payload.event)).toEqual([
      'cycle',
      'cycle',
      'cycle',
      'cycle',
      'cycle',
      'stop',
    ]);
    expect(m.shutdown(2_000_001)).toEqual([]);
  });
});
