import { describe, expect, it } from 'vitest';
import {
  BACK_LEAK_MAX_ML_MIN,
  FAULT,
  FlowRigModel,
  TEST_POINTS,
  trimCode,
  type FlowRigModelOptions,
  type TestResult,
} from './rig-model.js';

const T0 = Date.UTC(2025, 0, 6, 6, 0, 0);

function rig(opts: Partial<FlowRigModelOptions> = {}) {
  const model = new FlowRigModel({
    seed: 42,
    testSeconds: 6,
    idleSeconds: 2,
    driftPerTestPct: 1,
    startMs: T0,
    ...opts,
  });
  const completed: TestResult[] = [];
  model.on('test-completed', (r) => completed.push(r));
  return { model, completed };
}

/** Runs the model tick by tick, as the server does, until `ms` after T0. */
function runTo(model: FlowRigModel, ms: number, tickMs = 100): void {
  for (let t = T0; t <= T0 + ms; t += tickMs) model.advanceTo(t);
  model.advanceTo(T0 + ms);
}

function crcOk(code: string): boolean {
  const bytes = code.match(/../gu)!.map((h) => parseInt(h, 16));
  let crc = 0xffff;
  for (const b of bytes.slice(0, -2)) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc === bytes[bytes.length - 2]! * 256 + bytes[bytes.length - 1]!;
}

describe('FlowRigModel', () => {
  it('idles, runs the four test points in order, then completes one test', () => {
    const { model, completed } = rig();
    model.advanceTo(T0 + 1999);
    expect(model.live).toMatchObject({ state: 0, testPoint: 0, cycleCount: 0, partSerial: '' });
    const seen: number[] = [];
    for (let t = T0 + 2000; t < T0 + 8000; t += 250) {
      model.advanceTo(t);
      expect(model.live.state).toBe(1);
      if (seen[seen.length - 1] !== model.live.testPoint) seen.push(model.live.testPoint);
    }
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(completed).toHaveLength(0);
    model.advanceTo(T0 + 8000);
    expect(completed).toHaveLength(1);
    expect(model.live).toMatchObject({ state: 0, testPoint: 0, cycleCount: 1 });
    expect(model.lastResult).toBe(completed[0]);
    expect(completed[0]).toMatchObject({
      seq: 1,
      startedAt: new Date(T0 + 2000).toISOString(),
      completedAt: new Date(T0 + 8000).toISOString(),
    });
  });

  it('ramps the rail to each point pressure and holds it with noise', () => {
    const { model } = rig();
    model.advanceTo(T0 + 2000 + 50); // 50 ms into full load: still ramping from 0 bar
    expect(model.live.railPressureBar).toBeLessThan(300);
    for (const [i, tp] of TEST_POINTS.entries()) {
      const t = T0 + 2000 + i * 1500 + 1200; // 80 % into the point: ramp done
      model.advanceTo(t);
      expect(model.live.testPoint).toBe(tp.testPoint);
      expect(model.live.energizingTimeUs).toBe(tp.energizingTimeUs);
      expect(Math.abs(model.live.railPressureBar - tp.railPressureBar) / tp.railPressureBar).toBeLessThan(
        0.01,
      );
      expect(Math.abs(model.live.deliveredQtyMm3 - tp.nominalQtyMm3) / tp.nominalQtyMm3).toBeLessThan(0.1);
      expect(model.live.backLeakMlMin).toBeGreaterThan(0);
      expect(model.live.oilTempC).toBeGreaterThan(38);
      expect(model.live.oilTempC).toBeLessThan(42);
      expect(model.live.coilResistanceOhm).toBeGreaterThan(0.3);
      expect(model.live.coilResistanceOhm).toBeLessThan(0.4);
    }
    model.advanceTo(T0 + 8000 + 1900); // idle: rail bled down, nothing injected
    expect(model.live).toMatchObject({ state: 0, testPoint: 0, deliveredQtyMm3: 0, energizingTimeUs: 0 });
    expect(model.live.railPressureBar).toBeLessThan(5);
  });

  it('writes a consistent result block, pass/fail computed against LSL/USL and back-leak', () => {
    const { model, completed } = rig({ seed: 7 });
    runTo(model, 300 * 8000, 1000);
    expect(completed).toHaveLength(300);
    let fails = 0;
    const serials = new Set<string>();
    completed.forEach((r, i) => {
      expect(r.seq).toBe(i + 1);
      expect(r.partSerial).toMatch(/^INJ\d{8}$/u);
      expect(r.workOrder).toMatch(/^WO-\d{6}$/u);
      expect(r.operator).toMatch(/^OP-\d{4}$/u);
      expect(r.trimCode).toMatch(/^[0-9A-F]{16,20}$/u);
      expect(crcOk(r.trimCode)).toBe(true);
      serials.add(r.partSerial);
      expect(r.points.map((p) => p.testPoint)).toEqual([1, 2, 3, 4]);
      for (const [j, p] of r.points.entries()) {
        const tp = TEST_POINTS[j]!;
        expect(p.nominalQty).toBe(tp.nominalQtyMm3);
        expect(p.lslQty).toBeCloseTo(tp.nominalQtyMm3 * (1 - tp.tolerancePct / 100), 9);
        expect(p.uslQty).toBeCloseTo(tp.nominalQtyMm3 * (1 + tp.tolerancePct / 100), 9);
        expect(p.backLeakMax).toBe(BACK_LEAK_MAX_ML_MIN);
        const inside = p.measuredQty >= p.lslQty && p.measuredQty <= p.uslQty && p.backLeak <= p.backLeakMax;
        expect(p.pass).toBe(inside);
      }
      expect(r.overall).toBe(r.points.every((p) => p.pass) ? 'pass' : 'fail');
      if (r.overall === 'fail') fails++;
    });
    expect(serials.size).toBe(300);
    // A realistic line: most injectors pass, some do not.
    expect(fails).toBeGreaterThan(0);
    expect(fails / 300).toBeLessThan(0.15);
    // Work orders hold 20 parts.
    expect(completed[19]!.workOrder).toBe(completed[0]!.workOrder);
    expect(completed[20]!.workOrder).not.toBe(completed[0]!.workOrder);
  });

  it('replays the same results from the same seed whatever the tick rate', () => {
    const a = rig({ seed: 1234 });
    const b = rig({ seed: 1234 });
    const c = rig({ seed: 1235 });
    runTo(a.model, 5 * 8000, 37);
    b.model.advanceTo(T0 + 5 * 8000); // one jump
    runTo(c.model, 5 * 8000, 500);
    expect(b.completed).toHaveLength(5);
    expect(b.completed).toEqual(a.completed);
    expect(c.completed.map((r) => r.partSerial)).not.toEqual(a.completed.map((r) => r.partSerial));
  });

  it('drift makes the delivered quantity run out of tolerance over tests, and clearing it recalibrates', () => {
    const { model, completed } = rig({ seed: 99, driftPerTestPct: 1 });
    runTo(model, 3 * 8000, 500);
    const before = completed.map((r) => r.overall);
    model.setFaultMode(FAULT.drift, 'test');
    runTo(model, 15 * 8000, 500);
    const drifted = completed.slice(3);
    // full load is ±3 %: from the 4th drifted test on (4 % high) no injector can pass it
    const fullLoad = drifted.map((r) => (r.points[0]!.measuredQty - 60) / 60);
    expect(fullLoad[11]! - fullLoad[0]!).toBeGreaterThan(0.08);
    for (const r of drifted.slice(4)) {
      expect(r.points[0]!.pass).toBe(false);
      expect(r.points[0]!.measuredQty).toBeGreaterThan(r.points[0]!.uslQty);
      expect(r.overall).toBe('fail');
    }
    expect(model.currentDriftPct).toBe(12);
    model.setFaultMode(0, 'test');
    expect(model.currentDriftPct).toBe(0);
    expect(before.length).toBe(3);
  });

  it('halt puts the rig in fault state, aborts the running test, and resumes when cleared', () => {
    const { model, completed } = rig();
    const aborted: number[] = [];
    model.on('test-aborted', (e) => aborted.push(e.test));
    model.advanceTo(T0 + 3000); // in test 1
    model.setFaultMode(FAULT.halt, 'test');
    expect(model.live.state).toBe(2);
    expect(aborted).toEqual([1]);
    model.advanceTo(T0 + 60_000);
    expect(model.live).toMatchObject({ state: 2, testPoint: 0, cycleCount: 0 });
    expect(completed).toHaveLength(0);
    model.setFaultMode(0, 'test');
    model.advanceTo(T0 + 60_000 + 2000 + 6000);
    expect(completed).toHaveLength(1);
    expect(completed[0]!.seq).toBe(1);
  });

  it('reports fault mode changes once, with names', () => {
    const { model } = rig();
    const changes: unknown[] = [];
    model.on('fault-mode', (e) => changes.push(e));
    model.setFaultMode(FAULT.slow | FAULT.garbage, 'modbus');
    model.setFaultMode(FAULT.slow | FAULT.garbage, 'modbus');
    expect(changes).toEqual([
      {
        faultMode: 6,
        previous: 0,
        faults: ['slow', 'garbage'],
        source: 'modbus',
        at: new Date(T0).toISOString(),
      },
    ]);
    expect(() => model.setFaultMode(32, 'x')).toThrow(RangeError);
  });

  it('encodes the trim code from the deviations', () => {
    const points = TEST_POINTS.map((tp) => ({
      nominalQty: tp.nominalQtyMm3,
      measuredQty: tp.nominalQtyMm3 * 1.01,
    }));
    const code = trimCode(points, 11, 0.35);
    expect(code).toHaveLength(18);
    expect(code.slice(0, 10)).toBe('010A0A0A0A'); // version 1, +1.0 % at every point
    expect(crcOk(code)).toBe(true);
  });
});
