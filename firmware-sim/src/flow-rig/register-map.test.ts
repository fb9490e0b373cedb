import { describe, expect, it } from 'vitest';
import { REG, renderRegisters } from './register-map.js';
import { FAULT, FlowRigModel } from './rig-model.js';

const T0 = Date.UTC(2025, 0, 6, 6, 0, 0);

// Decoded with Buffer here, independently of the protocols package's decoder.
function view(words: Uint16Array) {
  const buf = Buffer.alloc(words.length * 2);
  words.forEach((w, i) => buf.writeUInt16BE(w, i * 2));
  return {
    u16: (a: number) => buf.readUInt16BE(a * 2),
    u32: (a: number) => buf.readUInt32BE(a * 2),
    f32: (a: number) => buf.readFloatBE(a * 2),
    str: (a: number, n: number) =>
      buf
        .subarray(a * 2, (a + n) * 2)
        .toString('latin1')
        .replace(/\0+$/u, ''),
  };
}

describe('flow rig register map', () => {
  it('is empty before the first test and shows the live block while running', () => {
    const model = new FlowRigModel({
      seed: 5,
      testSeconds: 4,
      idleSeconds: 1,
      driftPerTestPct: 1,
      startMs: T0,
    });
    let r = view(renderRegisters(model).words);
    expect([r.u16(0), r.u16(1), r.u32(2), r.u32(100), r.u16(102), r.str(103, 10), r.f32(140)]).toEqual([
      0,
      0,
      0,
      0,
      0,
      '',
      0,
    ]);
    model.advanceTo(T0 + 1000 + 2500); // test point 3 (idle), 500 ms in
    r = view(renderRegisters(model).words);
    const live = model.live;
    expect(r.u16(REG.state)).toBe(1);
    expect(r.u16(REG.testPoint)).toBe(3);
    expect(r.f32(REG.railPressureBar)).toBe(Math.fround(live.railPressureBar));
    expect(r.f32(REG.energizingTimeUs)).toBe(500);
    expect(r.f32(REG.deliveredQtyMm3)).toBe(Math.fround(live.deliveredQtyMm3));
    expect(r.f32(REG.backLeakMlMin)).toBe(Math.fround(live.backLeakMlMin));
    expect(r.f32(REG.oilTempC)).toBe(Math.fround(live.oilTempC));
    expect(r.f32(REG.coilResistanceOhm)).toBe(Math.fround(live.coilResistanceOhm));
    expect(r.str(REG.partSerial, 10)).toBe(live.partSerial);
    expect(r.str(REG.partSerial, 10)).toMatch(/^INJ\d{8}$/u);
    expect(r.str(REG.workOrder, 8)).toBe(live.workOrder);
    expect(r.str(REG.operator, 4)).toBe(live.operator);
  });

  it('holds the last result block, each value where the map says', () => {
    const model = new FlowRigModel({
      seed: 5,
      testSeconds: 4,
      idleSeconds: 1,
      driftPerTestPct: 1,
      startMs: T0,
    });
    model.advanceTo(T0 + 2 * 5000 + 100);
    model.setFaultMode(FAULT.drift | FAULT.slow, 'test');
    const res = model.lastResult!;
    const r = view(renderRegisters(model).words);
    expect(r.u32(REG.cycleCount)).toBe(2);
    expect(r.u32(REG.resultSeq)).toBe(2);
    expect(res.seq).toBe(2);
    expect(r.u16(REG.resultOverall)).toBe(res.overall === 'pass' ? 1 : 2);
    expect(r.str(REG.resultPartSerial, 10)).toBe(res.partSerial);
    expect(r.str(REG.resultWorkOrder, 8)).toBe(res.workOrder);
    expect(r.str(REG.resultOperator, 4)).toBe(res.operator);
    expect(r.str(REG.resultTrimCode, 10)).toBe(res.trimCode);
    for (let p = 1; p <= 4; p++) {
      const base = 140 + 12 * (p - 1);
      const point = res.points[p - 1]!;
      expect([0, 2, 4, 6, 8, 10].map((o) => r.f32(base + o))).toEqual(
        [
          point.nominalQty,
          point.lslQty,
          point.uslQty,
          point.measuredQty,
          point.backLeak,
          point.backLeakMax,
        ].map(Math.fround),
      );
    }
    expect(r.u16(REG.faultMode)).toBe(3);
    // The live part is the next one: the result keeps the tested part.
    model.advanceTo(T0 + 2 * 5000 + 1100);
    expect(view(renderRegisters(model).words).str(REG.partSerial, 10)).not.toBe(res.partSerial);
  });
});
